"""A fast PoliteClient and JSON replies shared by the Europe PMC and ClinicalTrials.gov client
tests (imported by their conftest modules)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from werkzeug import Request, Response

from harvester.http import PoliteClient, RetryPolicy

Reply = Response | Callable[[Request], Response]


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    return Response(body, status=status, headers=headers, content_type="application/json")


@dataclass
class FastHTTP:
    """A PoliteClient that never really sleeps; ``sleeps`` records the pauses it asked for."""

    http: PoliteClient
    sleeps: list[float] = field(default_factory=list)

    @property
    def pauses(self) -> list[float]:
        """Pauses longer than the rate limiter's (1 ms) interval: the retry back-offs."""
        return [s for s in self.sleeps if s > 0.01]


@pytest.fixture
def make_http() -> Iterator[Callable[..., FastHTTP]]:
    clients: list[httpx.Client] = []

    def make(timeout: float = 2.0, attempts: int = 3, max_delay: float = 0.0,
             base_delay: float = 0.0) -> FastHTTP:
        sleeps: list[float] = []
        client = httpx.Client(timeout=httpx.Timeout(timeout))
        clients.append(client)
        http = PoliteClient(client, rate=1000.0,
                            retry=RetryPolicy(attempts=attempts, base_delay=base_delay,
                                              max_delay=max_delay),
                            sleep=sleeps.append)
        return FastHTTP(http, sleeps)

    yield make
    for c in clients:
        c.close()
