"""The desk's shell: settings, command line, and the one-machine stack."""
