"""Console tests that drive Debian's Chromium, and helpers shared with tests/test_console_*."""
