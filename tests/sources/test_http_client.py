"""`HttpClient` (the non-exchange providers) against a local server: long and dated waits."""

from __future__ import annotations

import pandas as pd
import pytest

from costbt.data.sources.http_client import HttpClient
from costbt.data.sources.retry import FetchError, RetryPolicy
from tests.servers.base import Fault, LocalServer, Response

NOW = "2026-01-02 00:00:00"


class FixedClockServer(LocalServer):
    """Answers ``{"ok": true}`` at ``/data``; its ``Date`` header always says ``NOW``."""

    def route(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Response:
        return Response.json({"ok": True})

    def server_time_ms(self) -> int:
        return int(pd.Timestamp(NOW).value // 1_000_000)


@pytest.fixture()
def server():
    with FixedClockServer() as s:
        yield s


@pytest.fixture()
def sleeps() -> list[float]:
    return []


def client(server, sleeps) -> HttpClient:
    return HttpClient(server.url, policy=RetryPolicy(max_attempts=4, sleep=sleeps.append))


def test_a_429_with_a_retry_after_longer_than_the_limit_stops_at_once_giving_its_end(
    server, sleeps
):
    server.faults.add("/data", Fault(status=429, headers={"Retry-After": "86400"}))
    with pytest.raises(FetchError) as info:
        client(server, sleeps).get_json("/data")
    assert info.value.exit_code == 1 and info.value.status == 429 and sleeps == []
    assert "until 2026-01-03 00:00:00 UTC" in info.value.message
    assert server.count("/data") == 1


def test_a_503_with_a_retry_after_longer_than_the_limit_stops_at_once(server, sleeps):
    server.faults.add("/data", Fault(status=503, headers={"Retry-After": "600"}))
    with pytest.raises(FetchError, match=r"asks to wait until 2026-01-02 00:10:00 UTC") as info:
        client(server, sleeps).get_json("/data")
    assert info.value.exit_code == 1 and sleeps == []


def test_a_retry_after_given_as_an_http_date_is_counted_from_the_servers_clock(server, sleeps):
    server.faults.add(
        "/data", Fault(status=503, headers={"Retry-After": "Fri, 02 Jan 2026 00:00:30 GMT"})
    )
    assert client(server, sleeps).get_json("/data") == {"ok": True}
    assert sleeps == [30.0]
