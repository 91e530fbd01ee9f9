"""Tests of the Marketo sandbox (a package, so test_sandbox.py does not clash with the core tests of the same name)."""
