"""``chinwag serve --workers N``: N serving processes on one listening socket, and their supervisor.

The supervisor binds the socket once and starts N workers, each a ``GracefulServer`` in a process
of its own (the kernel shares the connections out among them). It

* restarts a worker that dies (a crash), and stops everything when one fails to start (the
  reason is the worker's one line of log: a broken project fails the same way every time);
* on SIGHUP replaces the workers one at a time, each new one serving before the old one drains
  (a rolling restart on one machine, for a new release or new settings);
* on SIGTERM or SIGINT asks every worker to stop (each drains its chat connections: see
  ``chinwag.shutdown``) and waits for them.

With ``--metrics-address`` the supervisor serves the metrics of all its workers, which write
them to ``PROMETHEUS_MULTIPROC_DIR`` (a temporary folder unless set).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from .metrics import MULTIPROCESS_VARIABLE

log = logging.getLogger("chinwag.workers")

READY_TIMEOUT = 60.0  # seconds a new worker may take to start serving during a rolling restart
STOP_MARGIN = 30.0  # seconds beyond the shutdown timeout a worker gets before it is killed


def run_worker(config: uvicorn.Config, sockets: list[socket.socket], ready: Event) -> None:
    """A worker process: configure its logging, then serve until told to stop."""
    from .serving import settle_heap
    from .shutdown import GracefulServer

    config.configure_logging()
    settle_heap()
    try:
        GracefulServer(config, on_started=ready.set).run(sockets=sockets)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the supervisor handles it
        pass


class Worker:
    """One worker process and the event it sets once it serves."""

    def __init__(self, context: Any, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.ready: Event = context.Event()
        self.process: SpawnProcess = context.Process(target=run_worker, args=(config, sockets, self.ready),
                                                     name="chinwag-worker")
        self.process.start()

    @property
    def pid(self) -> int:
        """The worker's process id."""
        assert self.process.pid is not None
        return self.process.pid

    def stop(self, timeout: float) -> None:
        """SIGTERM (a drain), then wait; SIGKILL after ``timeout`` seconds."""
        if self.process.exitcode is None:
            os.kill(self.pid, signal.SIGTERM)
        self.process.join(timeout)
        if self.process.exitcode is None:
            log.error("worker %d did not stop within %g s; killing it", self.pid, timeout)
            self.process.kill()
            self.process.join(5)


class Supervisor:
    """Runs ``workers`` copies of the server of ``config`` (see the module docstring)."""

    def __init__(self, config: uvicorn.Config, workers: int, metrics_address: tuple[str, int] | None = None) -> None:
        self.config = config
        self.count = workers
        self.metrics_address = metrics_address
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[Worker] = []
        self._signals: list[int] = []
        self._made_metrics_dir: str | None = None

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; the exit status (1 when a worker could not start)."""
        metrics_dir = self._metrics_dir()
        sock = self.config.bind_socket()
        metrics_server = None
        previous = {sig: signal.signal(sig, self._queue_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            if self.metrics_address is not None:
                from .metrics import gathering_registry, serve_metrics

                metrics_server = serve_metrics(*self.metrics_address, gathering_registry())  # type: ignore[arg-type]
            log.info("supervisor %d: starting %d workers", os.getpid(), self.count)
            self.workers = [Worker(self.context, self.config, [sock]) for _ in range(self.count)]
            return self._supervise([sock], metrics_dir)
        finally:
            self._stop_all()
            sock.close()
            if metrics_server is not None:
                metrics_server.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self._made_metrics_dir is not None:
                shutil.rmtree(self._made_metrics_dir, ignore_errors=True)

    def _queue_signal(self, sig: int, _frame: Any) -> None:
        self._signals.append(sig)

    def _metrics_dir(self) -> str:
        """The multiprocess metrics folder, emptied (a previous run's files would add up), set for the workers."""
        folder = os.environ.get(MULTIPROCESS_VARIABLE)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            for stale in Path(folder).glob("*.db"):
                stale.unlink()
        else:
            folder = self._made_metrics_dir = tempfile.mkdtemp(prefix="chinwag-metrics-")
            os.environ[MULTIPROCESS_VARIABLE] = folder
        return folder

    def _supervise(self, sockets: list[socket.socket], metrics_dir: str) -> int:
        while True:
            time.sleep(0.2)
            while self._signals:
                sig = self._signals.pop(0)
                if sig == signal.SIGHUP:
                    log.info("supervisor: SIGHUP, replacing the workers one at a time")
                    self._replace_all(sockets, metrics_dir)
                else:
                    log.info("supervisor: %s, stopping the workers", signal.Signals(sig).name)
                    return 0
            for index, worker in enumerate(self.workers):
                if worker.process.exitcode is None:
                    continue
                _forget_worker_metrics(worker.pid, metrics_dir)
                if worker.process.exitcode == STARTUP_FAILURE:
                    log.error("worker %d could not start (see above); stopping", worker.pid)
                    return 1
                log.error("worker %d died (exit code %s); starting another", worker.pid, worker.process.exitcode)
                self.workers[index] = Worker(self.context, self.config, sockets)

    def _replace_all(self, sockets: list[socket.socket], metrics_dir: str) -> None:
        for index, old in enumerate(list(self.workers)):
            new = Worker(self.context, self.config, sockets)
            if not new.ready.wait(READY_TIMEOUT):
                log.error("a new worker did not start serving within %g s; keeping worker %d", READY_TIMEOUT, old.pid)
                new.stop(self._stop_timeout())
                _forget_worker_metrics(new.pid, metrics_dir)
                return
            old.stop(self._stop_timeout())
            _forget_worker_metrics(old.pid, metrics_dir)
            self.workers[index] = new
            log.info("worker %d replaced by worker %d", old.pid, new.pid)

    def _stop_timeout(self) -> float:
        return (self.config.timeout_graceful_shutdown or 30.0) + STOP_MARGIN

    def _stop_all(self) -> None:
        for worker in self.workers:
            if worker.process.exitcode is None:
                os.kill(worker.pid, signal.SIGTERM)  # all drain at once
        for worker in self.workers:
            worker.stop(self._stop_timeout())


def _forget_worker_metrics(pid: int, folder: str) -> None:
    """Drop a finished worker's live gauges (its connected visitors) from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, folder)
