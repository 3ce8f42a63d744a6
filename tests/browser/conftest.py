"""The browser tests' shared fixtures: one stack (Temporal dev server, worker, intake
router, console over HTTP) and one Chromium per test module, as test_console_browser.py
defines them."""

from tests.browser.test_console_browser import browser, stack  # noqa: F401
