"""The logs of a serving process: lines for people, or JSON lines for a log pipeline
(``chinwag serve --log-format json``).

Each JSON line is one object: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the
``visitor`` and ``session`` ids of the chat the record was written in (set by the WebSocket loop
for its task, and so inherited by what the turn starts), ``error`` with the traceback, and for
uvicorn's access lines ``client``, ``method``, ``path`` and ``status``.

What never reaches a log: what visitors answer (chinwag logs ids and codes, never frames or lead
values), query strings (an OAuth callback's ``code`` and ``state`` are secrets: access lines keep
the path only), SQL parameters (the store's engine hides them from its errors), and HTTP
clients' request lines (httpx logs each URL at INFO; only its warnings are kept).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from contextvars import ContextVar
from typing import Any

LOG_FORMATS = ("text", "json")

_visitor: ContextVar[str | None] = ContextVar("chinwag_visitor", default=None)
_session: ContextVar[str | None] = ContextVar("chinwag_session", default=None)


def chat_ids(visitor_id: str | None, session_id: str | None) -> None:
    """The visitor and session the current task serves, for the records it writes from now on."""
    _visitor.set(visitor_id)
    _session.set(session_id)


class ChatIds(logging.Filter):
    """Adds ``visitor`` and ``session`` (None outside a chat) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record."""
        record.visitor = _visitor.get()
        record.session = _session.get()
        return True


class PathOnly(logging.Filter):
    """Cuts the query string off uvicorn's access lines (it may carry an OAuth code or state)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record, its path shortened."""
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        for name in ("visitor", "session"):
            value = getattr(record, name, None)
            if value:
                entry[name] = value
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _version, status = record.args
            entry.update(client=client, method=method, path=path, status=status)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(log_format: str = "text", level: str = "info") -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``chinwag serve``, given to uvicorn (and so to every worker)."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    if log_format == "json":
        formatters: dict[str, Any] = {"default": {"()": "chinwag.logs.JsonFormatter"},
                                      "access": {"()": "chinwag.logs.JsonFormatter"}}
    else:
        formatters = {
            "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s", "use_colors": None},
            "access": {"()": "uvicorn.logging.AccessFormatter",
                       "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s'},
            "named": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(name)s: %(message)s",
                      "use_colors": None},
        }
    named = "default" if log_format == "json" else "named"
    filters = {"chat_ids": {"()": "chinwag.logs.ChatIds"}, "path_only": {"()": "chinwag.logs.PathOnly"}}
    upper = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": formatters,
        "filters": filters,
        "handlers": {
            "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                        "filters": ["chat_ids"]},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                       "filters": ["path_only"]},
            "named": {"formatter": named, "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                      "filters": ["chat_ids"]},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": upper, "propagate": False},
            "uvicorn.error": {"level": upper},
            "uvicorn.access": {"handlers": ["access"], "level": upper, "propagate": False},
            "chinwag": {"handlers": ["named"], "level": upper, "propagate": False},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
        # Plugins' own loggers (and libraries'): their warnings and errors, in the same format.
        "root": {"handlers": ["named"], "level": "WARNING"},
    }
