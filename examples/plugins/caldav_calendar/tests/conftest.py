"""Fixtures of the CalDAV tests (defined in ``caldav_support``)."""

from caldav_support import radicale, secret_key  # noqa: F401
