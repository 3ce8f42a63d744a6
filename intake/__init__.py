"""The intake: accept messages durably, then parse, match and route them to cases. What it
shares with the console (triage, replies, source verification, matching) is in ``records/``."""
