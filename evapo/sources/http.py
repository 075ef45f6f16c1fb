"""Polite, bounded HTTP to the upstream APIs: retries, rate limits, concurrency caps, breakers.

The client is ``httpx2``: the maintained continuation of httpx (same API, ``MockTransport``);
httpx itself has had no release since 0.28.1 (Dec 2024). Retries use tenacity (exponential backoff
with jitter; a ``Retry-After`` header wins). Each real host has a rate limit (GCRA token bucket)
and a concurrency cap shared by every request of the process; each API has a circuit breaker that
opens after consecutive failures, so a dead API is skipped at once until its cool-down ends.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from evapo.config import UPSTREAM_HOSTS, Settings
from evapo.logging import get_logger
from evapo.sources.outbound import OutboundRefused, outbound_guard

log = get_logger(__name__)

#: Per real host: (requests per second, burst, concurrent requests).
HOST_LIMITS: dict[str, tuple[float, int, int]] = {
    "power.larc.nasa.gov": (5.0, 5, 4),
    "archive-api.open-meteo.com": (10.0, 10, 4),
    "api.open-meteo.com": (10.0, 10, 4),
    "api.met.no": (10.0, 10, 4),
    "api.weather.gov": (5.0, 5, 4),
}
BACKOFF_INITIAL_S = 0.2
BACKOFF_MAX_S = 5.0
RETRY_AFTER_MAX_S = 30.0
BREAKER_THRESHOLD = 5
"""Consecutive failed requests that open an API's breaker."""
BREAKER_COOLDOWN_S = 30.0
"""How long an open breaker refuses requests before letting one trial through [s]."""


class UpstreamError(Exception):
    """A request to an upstream API failed for good (after any retries)."""

    def __init__(self, api: str, reason: str, *, kind: str, status: int | None = None) -> None:
        super().__init__(f"{api}: {reason}")
        self.api = api
        self.reason = reason
        self.kind = kind
        self.status = status


class RetryableError(UpstreamError):
    """A failure worth retrying (5xx, 429, timeout, connection); may carry ``Retry-After``."""

    def __init__(
        self,
        api: str,
        reason: str,
        *,
        kind: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(api, reason, kind=kind, status=status)
        self.retry_after = retry_after


@dataclass
class CircuitBreaker:
    """Closed -> open after ``threshold`` consecutive failures; half-open after ``cooldown_s``."""

    threshold: int = BREAKER_THRESHOLD
    cooldown_s: float = BREAKER_COOLDOWN_S
    failures: int = 0
    opened_at: float | None = None
    _trial: bool = field(default=False, repr=False)

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        if self.opened_at is None:
            return "closed"
        if time.monotonic() - self.opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May a request go out now? (In half-open state only one trial at a time.)"""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        """Record a success: close the breaker."""
        self.failures, self.opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        """Record a failure: open the breaker at the threshold (or after a failed trial)."""
        self.failures += 1
        self._trial = False
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()


_breakers: dict[str, CircuitBreaker] = {}


def breaker_for(api: str, base_url: str) -> CircuitBreaker:
    """The process-wide breaker of one API at one base URL."""
    return _breakers.setdefault(f"{api} {base_url}", CircuitBreaker())


def reset_breakers() -> None:
    """Close and forget every breaker (tests)."""
    _breakers.clear()


class HostLimiter:
    """Rate limit (GCRA) plus concurrency cap for one host, on one event loop."""

    def __init__(self, rate: float, burst: int, concurrency: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = self.interval * max(0, burst - 1)
        self._tat = 0.0
        self.semaphore = asyncio.Semaphore(concurrency)

    async def pace(self) -> None:
        """Wait until the rate limit lets one more request out."""
        now = time.monotonic()
        tat = max(self._tat, now)
        wait = tat - self.tolerance - now
        self._tat = tat + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, HostLimiter]] = (
    weakref.WeakKeyDictionary()
)


def limiter_for(host: str) -> HostLimiter:
    """The limiter of ``host`` shared by every request on the running loop."""
    per_loop = _limiters.setdefault(asyncio.get_running_loop(), {})
    if host not in per_loop:
        per_loop[host] = HostLimiter(*HOST_LIMITS.get(host, (5.0, 5, 4)))
    return per_loop[host]


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verified TLS context per process (loading the CA store is slow)."""
    return ssl.create_default_context()


class Upstream:
    """Shared HTTP client for the upstream APIs; counts requests per API.

    ``settings.upstream_timeout_s`` bounds each request, ``settings.upstream_retries`` the
    retries. The caller bounds the whole per-source work with a deadline.
    """

    def __init__(self, settings: Settings, *, client: httpx2.AsyncClient | None = None) -> None:
        self.settings = settings
        self._own_client = client is None
        self._client = client
        self.requests: Counter[str] = Counter()

    @property
    def client(self) -> httpx2.AsyncClient:
        """The HTTP client, created on first use (a fully cached fetch never builds one)."""
        if self._client is None:
            self._client = httpx2.AsyncClient(
                timeout=self.settings.upstream_timeout_s,
                headers={"User-Agent": self.settings.user_agent, "Accept": "application/json"},
                limits=httpx2.Limits(max_connections=32, max_keepalive_connections=16),
                verify=_tls_context(),
                trust_env=self.settings.upstream_url is None,
                event_hooks={"request": [outbound_guard(self.settings)]},
            )
        return self._client

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def url(self, api: str, path: str) -> str:
        """Full URL of ``path`` on ``api`` (base from settings, never from user input)."""
        return f"{self.settings.api_base(api)}{path}"

    async def get_json(
        self,
        api: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        count_as: str | None = None,
    ) -> Any:
        """GET ``path`` on ``api`` and decode JSON, retrying transient failures.

        ``count_as`` names the source the request is counted for (default ``api``).
        Raises :class:`UpstreamError` (``kind`` says why) when the request fails for good.
        """
        base = self.settings.api_base(api)
        breaker = breaker_for(api, base)
        limiter = limiter_for(UPSTREAM_HOSTS[api])
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.upstream_retries + 1),
            wait=_wait,
            retry=retry_if_exception_type(RetryableError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if not breaker.allow():
                    raise UpstreamError(
                        api, "circuit breaker open after repeated failures", kind="circuit_open"
                    )
                self.requests[count_as or api] += 1
                try:
                    data = await self._once(api, base + path, params, limiter)
                except RetryableError:
                    breaker.failure()
                    raise
                except UpstreamError as exc:
                    if exc.kind == "malformed":
                        breaker.failure()
                    else:
                        breaker.success()
                    raise
                breaker.success()
                return data
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _once(
        self, api: str, url: str, params: dict[str, str] | None, limiter: HostLimiter
    ) -> Any:
        async with limiter.semaphore:
            await limiter.pace()
            try:
                response = await self.client.get(url, params=params)
            except httpx2.TimeoutException:
                raise RetryableError(
                    api, f"no answer within {self.settings.upstream_timeout_s:g} s", kind="timeout"
                ) from None
            except httpx2.TransportError as exc:
                raise RetryableError(api, f"connection failed: {exc}", kind="connect") from None
            except OutboundRefused as exc:
                raise UpstreamError(api, str(exc), kind="refused_host") from None
            status = response.status_code
            if status == 429 or status >= 500:
                log.warning("upstream_retryable", api=api, status=status)
                raise RetryableError(
                    api,
                    f"HTTP {status}",
                    kind="http",
                    status=status,
                    retry_after=_retry_after(response.headers.get("retry-after")),
                )
            if status == 404:
                raise UpstreamError(api, "HTTP 404 (no data here)", kind="not_found", status=404)
            if status == 403:
                raise UpstreamError(api, "HTTP 403 forbidden", kind="forbidden", status=403)
            if status >= 400:
                detail = response.text[:200]
                raise UpstreamError(
                    api, f"HTTP {status}: {detail}", kind="bad_request", status=status
                )
            try:
                return orjson.loads(response.content)
            except ValueError as exc:
                raise UpstreamError(api, f"malformed JSON: {exc}", kind="malformed") from None


_backoff = wait_exponential_jitter(multiplier=BACKOFF_INITIAL_S, max=BACKOFF_MAX_S, jitter=0.2)


def _wait(state: RetryCallState) -> float:
    """Backoff before the next attempt: ``Retry-After`` when the server sent one."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryableError) and exc.retry_after is not None:
        return min(exc.retry_after, RETRY_AFTER_MAX_S)
    return float(_backoff(state))
