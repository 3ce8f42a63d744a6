"""The intake: accept messages durably, then parse, match and route them to cases."""
