"""Shared test setup: quiet TF noise once, and session-scoped heavy fixtures."""
from laf.quiet import quiet

quiet()
