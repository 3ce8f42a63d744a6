"""What every process reads, below every layer: settings, the secret key, private files, the
reference key, metrics, the payload codec's sealing (``tests/test_layers.py``)."""
