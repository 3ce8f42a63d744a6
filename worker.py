"""Entry point of the Temporal worker (hosts ``workflows/`` and ``activities/``)."""

import sys

from vigie.cli import main

if __name__ == "__main__":
    sys.exit(main(["worker"]))
