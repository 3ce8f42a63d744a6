"""The desk's shell: command line, the one-machine stack, the demo, the schedules and the
Temporal clients and workers. It may import every layer; none imports it (settings, metrics
and keys are in ``base/``, below every layer)."""
