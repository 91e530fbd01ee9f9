"""chinwag: open, plugin-based scripted website chat for B2B lead capture and meeting booking.

The public API for plugin authors is small: ``hookimpl`` marks hook implementations, and the
hooks themselves are documented in ``chinwag.hookspecs`` and ``docs/plugins.md``.
"""

from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
