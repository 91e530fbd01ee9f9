"""Implements ``register_cardz``, a hook that does not exist."""

from chinwag import hookimpl


@hookimpl
def register_cardz(register):
    """Misspelled on purpose."""
