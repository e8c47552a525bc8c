"""Typed errors raised by parsers and clients."""

from __future__ import annotations


class HarvestError(Exception):
    """Base class for everything the harvester raises on purpose."""


class ParseError(HarvestError):
    """The payload is not valid input for this parser (malformed, truncated, hostile)."""


class SourceError(HarvestError):
    """The source answered, but with an error (``<ERROR>``, ``ErrorList``, error JSON)."""


class RateLimited(HarvestError):
    """The source says we are going too fast (HTTP 429 or a rate-limit body in a 200)."""


class TransientHTTPError(HarvestError):
    """A retryable failure: 5xx, timeout, dropped connection, truncated body."""


class IncompleteBatch(HarvestError):
    """A batch came back with fewer records than ids requested, even after retries."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing
