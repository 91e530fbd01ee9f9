"""Marketo's API limits as the sandbox enforces them: rate (606), concurrency (615) and daily quota (607).

Kept apart from the data so a test can read the counters and the call log without knowing about
leads. Everything here runs on the sandbox's event loop; a lock guards the counters anyway because
tests change limits from their own thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import attrs


class MarketoError(Exception):
    """An error answered in Marketo's envelope: ``{"success": false, "errors": [{"code", "message"}]}``.

    ``code`` is a string, as Marketo sends it. The HTTP status stays 200.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code} {message}")


@attrs.define
class ApiCall:
    """One REST or bulk call the sandbox received (identity calls are not logged)."""

    method: str
    path: str
    at: float  # time.time() when it arrived
    counted: bool = False  # whether it counted towards the rate and the daily quota


@attrs.define
class ApiLimits:
    """The subscription's limits and the counters behind them.

    Defaults are Marketo's documented ones: 100 calls per 20 s, 10 calls in flight, 50,000 calls a day.
    """

    rate_limit: int = 100
    rate_window: float = 20.0
    concurrency_limit: int = 10
    daily_quota: int = 50_000
    request_delay: float = 0.0  # seconds every call takes, so tests can hold calls in flight
    calls_today: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    calls: list[ApiCall] = attrs.field(factory=list)
    _recent: deque[float] = attrs.field(factory=deque)  # monotonic times of counted calls in the window
    _lock: threading.Lock = attrs.field(factory=threading.Lock)

    def log(self, method: str, path: str) -> ApiCall:
        """Note a call as it arrives, whatever its fate (faults and bad tokens included)."""
        call = ApiCall(method, path, time.time())
        with self._lock:
            self.calls.append(call)
        return call

    def admit(self, call: ApiCall) -> None:
        """Let a logged call in (counting it) or raise 615, 606 or 607, checked in that order.

        A refused call counts towards nothing, so a client that backs off recovers.
        """
        now = time.monotonic()
        with self._lock:
            refusal = self._refusal(now)
            if refusal:
                raise refusal
            call.counted = True
            self._recent.append(now)
            self.calls_today += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def release(self) -> None:
        """A call admitted by ``admit`` has been answered."""
        with self._lock:
            self.in_flight -= 1

    def _refusal(self, now: float) -> MarketoError | None:
        while self._recent and self._recent[0] <= now - self.rate_window:
            self._recent.popleft()
        if self.in_flight >= self.concurrency_limit:
            return MarketoError("615", "Concurrent access limit reached")
        if len(self._recent) >= self.rate_limit:
            # Marketo's own wording, typo included ("with in"); the values are the configured limit.
            return MarketoError("606", f"Max rate limit '{self.rate_limit}' exceeded with in '{self.rate_window:g}' secs")
        if self.calls_today >= self.daily_quota:
            return MarketoError("607", "Daily quota reached")
        return None

    def reset_day(self) -> None:
        """Start a new day: the daily call count goes back to zero (Marketo resets at midnight CST)."""
        with self._lock:
            self.calls_today = 0

    def peak_rate(self, window: float | None = None) -> int:
        """The most counted calls that fell within any ``window`` seconds (default: the rate window).

        A test checks a client stayed under a rate with ``peak_rate(20) <= 50``.
        """
        window = self.rate_window if window is None else window
        times = [call.at for call in self.calls if call.counted]
        peak, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window:
                start += 1
            peak = max(peak, end - start + 1)
        return peak
