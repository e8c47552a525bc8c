"""A polite HTTP layer shared by every source: rate limiting, retries with backoff and jitter."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harvester.errors import HarvestError, RateLimited, SourceError, TransientHTTPError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = "ketamine-kb/0.1 (+https://github.com/ketamine-kb/ketamine-kb)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Query parameters that must never reach a log line.
SECRET_PARAMS = frozenset({"api_key", "apikey", "token", "key"})


class RateLimiter:
    """At most ``rate`` calls per second, across threads (a minimum interval between calls)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter."""

    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        cap = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(cap / 2, cap)


def redact(url: str | httpx.URL) -> str:
    """The URL with secret query parameters replaced by ``***``."""
    u = httpx.URL(str(url))
    if not u.query:
        return str(u)
    params = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in u.params.multi_items()]
    return str(u.copy_with(params=params))


def secret_values(*mappings: Mapping[str, Any] | None) -> list[str]:
    """The values of secret parameters (``api_key`` ...) in request params / form data."""
    found = []
    for mapping in mappings:
        for k, v in (mapping or {}).items():
            if k.lower() in SECRET_PARAMS and v is not None and str(v):
                found.append(str(v))
    return found


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of each secret value replaced by ``***``.

    Sources echo keys back (NCBI's error JSON carries ``"api-key": "..."``), so messages built
    from a response body must go through this before they reach a log line or an exception.
    """
    for secret in secrets:
        if len(secret) >= 4:  # a 1-3 character "secret" would mangle ordinary text
            text = text.replace(secret, "***")
    return text


class _RedactHttpxURLs(logging.Filter):
    """httpx logs every request URL at INFO; hide secret query parameters in those lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL)
                                                  for a in record.args):
            record.args = tuple(redact(a) if isinstance(a, httpx.URL) else a
                                for a in record.args)
        return True


logging.getLogger("httpx").addFilter(_RedactHttpxURLs())


def looks_rate_limited(body: bytes) -> bool:
    """NCBI sometimes sends ``{"error":"API rate limit exceeded"}`` with status 200."""
    head = body[:300].lstrip()
    if not head.startswith(b"{"):
        return False
    try:
        data = json.loads(body[:2000])
    except ValueError:
        return b"rate limit" in head.lower()
    return isinstance(data, dict) and "rate limit" in str(data.get("error", "")).lower()


class PoliteClient:
    """Wraps an injectable ``httpx.Client`` with a rate limit and retries.

    ``request`` returns the response body for a 2xx answer and raises a typed error otherwise.
    ``validate`` (optional) inspects a 200 body and raises ``TransientHTTPError`` (retried) or
    ``SourceError`` (not retried) when the body is not what was asked for.  Values of secret
    parameters (``api_key`` ...) in ``params``/``data`` never appear in log lines or in the
    messages of the errors raised.  ``sleep`` and ``clock`` are injectable for tests.
    """

    def __init__(self, client: httpx.Client | None = None, *, rate: float = 3.0,
                 retry: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client or httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT},
                                             follow_redirects=True)
        self.limiter = RateLimiter(rate, clock=clock, sleep=sleep)
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.requests_made = 0

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None,
                validate: Callable[[bytes], None] | None = None) -> bytes:
        secrets = secret_values(params, data)
        try:
            return self._request(method, url, params=params, data=data, validate=validate,
                                 secrets=secrets)
        except HarvestError as exc:
            failure = exc
        message = str(failure)
        clean = scrub(message, secrets)
        if clean == message:
            raise failure
        # Same type and attributes, secret-free message.  Raised outside the ``except`` so the
        # original (which holds the secret) is neither its cause nor its context.
        new = type(failure).__new__(type(failure))
        new.__dict__.update(failure.__dict__)
        new.args = (clean, *failure.args[1:])
        raise new

    def _request(self, method: str, url: str, *, params: Mapping[str, Any] | None,
                 data: Mapping[str, Any] | None, validate: Callable[[bytes], None] | None,
                 secrets: list[str]) -> bytes:
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            self.limiter.wait()
            retry_after: float | None = None
            try:
                self.requests_made += 1
                resp = self.client.request(method, url, params=params, data=data)
                body = resp.content
                if resp.status_code in RETRY_STATUSES:
                    retry_after = _retry_after(resp)
                    err: Exception = (RateLimited if resp.status_code == 429 else
                                      TransientHTTPError)(f"HTTP {resp.status_code}")
                    raise err
                if resp.status_code >= 400:
                    raise SourceError(f"HTTP {resp.status_code} from {redact(resp.url)}: "
                                      f"{body[:200]!r}")
                if looks_rate_limited(body):
                    raise RateLimited("rate limit message in a 200 response")
                if validate is not None:
                    validate(body)
                return body
            except (RateLimited, TransientHTTPError, httpx.TransportError) as exc:
                last = exc
                if attempt + 1 >= self.retry.attempts:
                    break
                pause = self.retry.delay(attempt, retry_after)
                log.warning("%s %s failed (%s: %s); retry %d/%d in %.1fs", method,
                            redact(httpx.URL(url, params=params or {})), type(exc).__name__,
                            scrub(str(exc), secrets), attempt + 1, self.retry.attempts - 1,
                            pause)
                self.sleep(pause)
        if isinstance(last, (RateLimited, TransientHTTPError)):
            raise type(last)(f"{last} (gave up after {self.retry.attempts} attempts)") from last
        raise TransientHTTPError(
            f"{type(last).__name__}: {last} (gave up after {self.retry.attempts} attempts)"
        ) from last


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
