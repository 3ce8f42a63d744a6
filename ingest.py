"""Entry point of the SMTP intake (``intake/``: durable accept, then parse and route)."""

import sys

from vigie.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest"]))
