"""What ``chinwag serve`` runs: uvicorn with chinwag's settings, in one process or as workers.

Every input of the command is checked here, where it enters, with a message that says what is
wrong: the proxies trusted with forwarded headers, the metrics address, several workers on a
database only one process can write (SQLite).
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import os
from pathlib import Path
from typing import Any

import attrs
import uvicorn

from .logs import logging_config
from .shutdown import GracefulServer

log = logging.getLogger("chinwag.server")

APP_FACTORY = "chinwag.server:app_from_environment"
# Allocations between two collections of the youngest generation (Python's default: 700). Every
# turn allocates a few hundred objects that live until its reply is sent, and each collection's
# survivors push the older generations towards collections that walk every visitor's objects.
YOUNG_COLLECTION_EVERY = 20_000


class ServeError(ValueError):
    """A ``chinwag serve`` option or combination that cannot work; the message says why."""


@attrs.frozen
class ServeOptions:
    """The options of ``chinwag serve`` (see ``chinwag serve --help``)."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    forwarded_allow_ips: str = "127.0.0.1"
    shutdown_timeout: float = 30.0
    log_format: str = "text"
    metrics_address: tuple[str, int] | None = None
    demo: bool = False
    reload: bool = False


def trusted_proxies(value: str) -> str:
    """``--forwarded-allow-ips`` checked: ``*`` or a comma-separated list of addresses and networks
    (``10.0.0.0/8``); returned without spaces. Raises ``ServeError`` naming the bad entry."""
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if not entries:
        raise ServeError("--forwarded-allow-ips needs an address, a network such as 10.0.0.0/8, or *")
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ServeError(f"--forwarded-allow-ips: {entry!r} is not an IP address or network "
                             "(like 127.0.0.1, 10.0.0.0/8 or ::1); * trusts every peer") from None
    return ",".join(entries)


def metrics_address(value: str) -> tuple[str, int]:
    """``--metrics-address HOST:PORT`` (``[::1]:9108`` for IPv6) as (host, port); ``ServeError`` if it is not one."""
    host, colon, port = value.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ServeError(f"--metrics-address must be HOST:PORT, like 127.0.0.1:9108, not {value!r}")
    return host, int(port)


def check_options(options: ServeOptions, database_url: str) -> None:
    """Refuse combinations that cannot work, before anything starts."""
    if options.workers > 1 and database_url.startswith("sqlite"):
        raise ServeError(f"--workers {options.workers} needs PostgreSQL: a SQLite file takes one writer at a time, "
                         "so several processes would queue for it (and a machine's processes cannot share it safely "
                         "over a network disk). Set database: to a postgresql+asyncpg:// URL, or serve with one worker.")
    if options.workers > 1 and options.reload:
        raise ServeError("--reload runs one process; it cannot be combined with --workers")
    if options.metrics_address is not None and options.metrics_address[1] == options.port:
        raise ServeError(f"--metrics-address needs a port of its own, not the chat's ({options.port})")


def settle_heap() -> None:
    """For a serving process, before it serves: leave what is loaded by now (chinwag's modules and
    their dependencies) out of every later garbage collection, since it lives as long as the
    process, and collect less often: with thousands of visitors connected, collections took 10 to
    23 % of the event loop's time in the chat benchmark (docs/benchmarks.md), about 1 % after."""
    import chinwag.server  # noqa: F401 (the app's module, loaded now so that it is settled too)

    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])


def uvicorn_config(options: ServeOptions) -> uvicorn.Config:
    """uvicorn's settings for chinwag (creating it configures the process's logging)."""
    return uvicorn.Config(
        APP_FACTORY, factory=True, host=options.host, port=options.port, ws_max_size=1 << 20,
        # Chat frames are a few hundred bytes: per-connection compression state would
        # cost more memory per idle visitor (about 45 KiB) than it saves in bandwidth.
        ws_per_message_deflate=False, log_config=logging_config(options.log_format), log_level="info",
        proxy_headers=True, forwarded_allow_ips=options.forwarded_allow_ips,
        timeout_graceful_shutdown=options.shutdown_timeout, workers=options.workers)


def serve(project: Path, options: ServeOptions, served_at: str) -> int:
    """Serve ``project`` until told to stop; the exit status (1 when the startup was refused: the
    reason was logged in one line)."""
    os.environ["CHINWAG_PROJECT"] = str(project.resolve())
    os.environ["CHINWAG_DEMO"] = "1" if options.demo else ""
    os.environ["CHINWAG_SERVED_AT"] = served_at
    config = uvicorn_config(options)
    workers = f", {options.workers} workers" if options.workers > 1 else ""
    log.info("chinwag serving %s at http://%s:%d/%s%s", project, options.host, options.port, workers,
             " (demo pages at /)" if options.demo else "")
    if options.reload:
        uvicorn.run(APP_FACTORY, reload=True, reload_dirs=[str(project.resolve())],
                    **_run_options(config))
        return 0
    if options.workers > 1:
        from .workers import Supervisor

        os.environ.pop("CHINWAG_METRICS_ADDRESS", None)  # the supervisor serves them, for every worker
        return Supervisor(config, options.workers, options.metrics_address).run()
    if options.metrics_address is not None:
        os.environ["CHINWAG_METRICS_ADDRESS"] = "[%s]:%d" % options.metrics_address
    server = GracefulServer(config)
    settle_heap()
    try:
        server.run()
    except SystemExit:  # uvicorn exits (code 3) when the startup fails
        pass
    return 0 if server.started else 1


def _run_options(config: uvicorn.Config) -> dict[str, Any]:
    """``uvicorn.run``'s keywords for the same settings (``--reload`` goes through it)."""
    return dict(factory=True, host=config.host, port=config.port, ws_max_size=config.ws_max_size,
                ws_per_message_deflate=config.ws_per_message_deflate, log_config=config.log_config,
                log_level=config.log_level, proxy_headers=True, forwarded_allow_ips=config.forwarded_allow_ips,
                timeout_graceful_shutdown=config.timeout_graceful_shutdown)
