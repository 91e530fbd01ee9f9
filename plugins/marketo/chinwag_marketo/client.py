"""Marketo's REST API as the connector needs it: the token, the envelope, the limits, the errors.

* **Token**: identity ``oauth/token`` with client credentials, cached until a minute before
  ``expires_in``. Marketo hands every caller the same token until it expires, so the processes
  of one deployment share it without storing it; a 601 or 602 gets a new one and one retry.
* **Limits**: every call first takes a place in a ``SharedLimiter`` (the configured share of the
  instance's 100 calls per 20 s, and of its 10 at once), held in the database, so all processes
  together stay under it.
* **Errors**, mapped to what the outbox understands: 606 and 615 (limits), 5xx, 604, 608, 611,
  713 and network failures are ``RetryLater``; 607 (daily quota) is ``PauseDelivery`` until the
  quota resets at midnight US Central; any other response-level code is a ``MarketoError``,
  which the connector turns into refusals of the records concerned. Record-level results
  (created, updated, skipped with 1xxx reasons) are the caller's to read.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from chinwag.crm import NotReadyToPull
from chinwag.outbox import PauseDelivery, RetryLater
from chinwag.shared_limits import LimiterBusy, SharedLimiter

from .settings import MarketoSettings

QUOTA_ZONE = ZoneInfo("America/Chicago")  # "resets at 12:00 AM CST"
RATE_WINDOW = 20.0  # seconds of Marketo's rate limit
TRANSIENT_CODES = {"500", "502", "604", "606", "608", "611", "615", "713", "719"}
TOKEN_CODES = {"601", "602"}
TOKEN_MARGIN = 60.0  # seconds before expiry a token is renewed


class MarketoError(Exception):
    """Marketo refused a request for good (a response-level code that retrying will not change)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"Marketo {code}: {message}")
        self.code, self.message = code, message


class InitialSyncNeeded(MarketoError, NotReadyToPull):
    """The incremental pull has nothing to continue: ``chinwag marketo sync`` has not run, or has
    not finished."""


class MarketoAuthError(Exception):
    """The identity service refused the client id or secret."""


def next_quota_reset(now: dt.datetime) -> dt.datetime:
    """The next midnight in US Central time, when Marketo's daily quota resets."""
    local = now.astimezone(QUOTA_ZONE)
    midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), tzinfo=QUOTA_ZONE)
    return midnight.astimezone(dt.timezone.utc)


class MarketoClient:
    """One instance's REST API, within its limits. ``limiter`` is made on first use (it needs the
    app's store, which opens after the connector is registered)."""

    def __init__(self, settings: MarketoSettings, limiter: Callable[[str, int], SharedLimiter],
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``limiter(purpose, calls)`` makes the shared limiter of write-back ("calls") or of
        real-time lookups ("lookups"), each with its own share of the instance's rate."""
        self.settings = settings
        self._make_limiter = limiter
        self._limiters: dict[bool, SharedLimiter] = {}
        self._clock = clock
        self._http: httpx.AsyncClient | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self.calls = 0  # REST calls this process made (identity calls are not counted by Marketo either)

    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client, made on first use on the serving event loop."""
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.settings.base_url, timeout=self.settings.timeout)
        return self._http

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def token(self, renew: bool = False) -> str:
        """A valid access token (a new one when ``renew`` or near expiry)."""
        if not renew and self._token and self._clock() < self._token_expires - TOKEN_MARGIN:
            return self._token
        try:
            response = await self.http.get("/identity/oauth/token", params={
                "grant_type": "client_credentials", "client_id": self.settings.client_id or "",
                "client_secret": self.settings.client_secret or ""})
        except httpx.HTTPError as error:
            raise RetryLater(f"Marketo identity unreachable: {type(error).__name__}") from error
        if response.status_code == 401:
            raise MarketoAuthError("Marketo refused the client id or secret (identity answered 401)")
        if response.status_code >= 500:
            raise RetryLater(f"Marketo identity answered {response.status_code}")
        body = _json(response)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, (int, float)):
            raise RetryLater("Marketo identity answered without a token")
        self._token, self._token_expires = token, self._clock() + float(expires_in)
        return token

    async def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                      json: Any = None, lookup: bool = False) -> dict[str, Any]:
        """One REST call within the limits; the envelope of a successful answer.

        Raises ``RetryLater``, ``PauseDelivery`` or ``MarketoError`` (see the module docstring).
        A ``lookup`` (a visitor is waiting) counts against ``lookup_share`` and never queues: it
        raises ``LimiterBusy`` when that share has no room right now.
        """
        for attempt in (1, 2):
            token = await self.token(renew=attempt == 2)
            body = await self._send(method, path, token, params, json, lookup)
            if body.get("success") is True:
                return body
            code, message = _first_error(body)
            if code in TOKEN_CODES and attempt == 1:
                continue  # expired or invalid: one new token, one more try
            raise _mapped(code, message)
        raise AssertionError("unreachable")

    def limiter(self, lookup: bool) -> SharedLimiter:
        """The shared limiter of lookups or of the other calls, made on first use (the store is open by then)."""
        if lookup not in self._limiters:
            share = self.settings.lookup_share if lookup else self.settings.rate_share
            if share < 1:
                raise LimiterBusy("real-time lookups are switched off (lookup_share: 0)")
            self._limiters[lookup] = self._make_limiter("lookups" if lookup else "calls", share)
        return self._limiters[lookup]

    @asynccontextmanager
    async def stream(self, path: str) -> AsyncIterator[httpx.Response]:
        """``GET path`` with its body left unread, for a file too big to hold (a bulk export).

        Opening it takes one place in the limits, like any call; reading the body does not hold
        one, since a file of hundreds of megabytes takes longer than a call's lease. Errors are
        mapped as for ``request``: a JSON envelope with an error code, 404 (the file is not ready)
        and 5xx are raised before anything is yielded.
        """
        for attempt in (1, 2):
            token = await self.token(renew=attempt == 2)
            async with self.limiter(lookup=False).call():
                self.calls += 1
                request = self.http.build_request("GET", path, headers={"Authorization": f"Bearer {token}"})
                try:
                    response = await self.http.send(request, stream=True)
                except httpx.HTTPError as error:
                    raise RetryLater(f"Marketo unreachable: {type(error).__name__}") from error
            try:
                if response.headers.get("content-type", "").startswith("application/json"):
                    await response.aread()  # an envelope instead of the file: an error
                    code, message = _first_error(_json(response))
                    if code in TOKEN_CODES and attempt == 1:
                        continue
                    raise _mapped(code, message)
                if response.status_code == 404:
                    raise RetryLater(f"Marketo has no file at {path} yet (HTTP 404)")
                if response.status_code >= 500 or response.status_code == 429:
                    raise RetryLater(f"Marketo answered HTTP {response.status_code}")
                if response.status_code >= 400:
                    raise MarketoError(str(response.status_code), f"HTTP {response.status_code} for GET {path}")
                yield response
                return
            finally:
                await response.aclose()
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, token: str, params: Mapping[str, Any] | None,
                    json: Any, lookup: bool = False) -> dict[str, Any]:
        async with self.limiter(lookup).call(wait=not lookup):
            self.calls += 1
            try:
                response = await self.http.request(method, path, params=params, json=json,
                                                   headers={"Authorization": f"Bearer {token}"})
            except httpx.TimeoutException as error:
                raise Ambiguous(f"Marketo did not answer in {self.settings.timeout:g} s") from error
            except httpx.HTTPError as error:
                raise RetryLater(f"Marketo unreachable: {type(error).__name__}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryLater(f"Marketo answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise MarketoError(str(response.status_code), f"HTTP {response.status_code} for {method} {path}")
        return _json(response)


class Ambiguous(RetryLater):
    """The request went out and no answer came back: it may have been applied. Retried like any
    transient failure; the connector checks for an earlier success before sending again."""


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as error:
        raise RetryLater(f"Marketo answered with something that is not JSON (HTTP {response.status_code})") from error
    if not isinstance(body, dict):
        raise RetryLater("Marketo answered with JSON that is not an object")
    return body


def _first_error(body: Mapping[str, Any]) -> tuple[str, str]:
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return str(errors[0].get("code", "")), str(errors[0].get("message", ""))
    return "", "success was not true and no error was given"


def _mapped(code: str, message: str) -> Exception:
    if code == "607":
        return PauseDelivery(next_quota_reset(dt.datetime.now(dt.timezone.utc)), f"Marketo daily quota reached ({message})")
    if code == "606":
        return RetryLater(f"Marketo rate limit: {message}", after=RATE_WINDOW)
    if code in TRANSIENT_CODES or code in TOKEN_CODES:
        return RetryLater(f"Marketo {code}: {message}")
    return MarketoError(code, message)
