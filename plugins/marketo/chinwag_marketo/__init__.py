"""Marketo for chinwag. For now only the sandbox (``chinwag_marketo.sandbox``); the connector comes next."""
