"""The fault proxy against a real HTTP server on loopback: pass, latency, reset, blackhole."""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Iterator

import pytest

from chaos.proxy import FaultProxy, Mode
from tests.fixtures.http_ok import serve_ok


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    server = serve_ok()
    fault_proxy = FaultProxy(server.server_address[1], random.Random(0))
    fault_proxy.start()
    yield fault_proxy
    fault_proxy.stop()
    server.shutdown()
    server.server_close()


def get(proxy: FaultProxy, conn: http.client.HTTPConnection | None = None, timeout: float = 5) -> tuple[int, float]:
    conn = conn or http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    start = time.perf_counter()
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.read() == b"ok"
    return response.status, time.perf_counter() - start


def test_pass_and_latency(proxy: FaultProxy) -> None:
    status, quick = get(proxy)
    assert status == 200
    proxy.set_mode(Mode("latency", 0.3))
    status, slow = get(proxy)
    assert status == 200 and slow >= 0.3
    assert proxy.first_hit_t is not None
    proxy.set_mode(Mode())
    assert get(proxy)[1] < 0.3


def test_reset_hits_open_and_new_connections(proxy: FaultProxy) -> None:
    kept = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    get(proxy, kept)
    proxy.set_mode(Mode("reset"))
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        get(proxy, kept)
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        get(proxy)
    proxy.set_mode(Mode())
    assert get(proxy)[0] == 200


def test_blackhole_swallows_requests_until_restored(proxy: FaultProxy) -> None:
    proxy.set_mode(Mode("blackhole"))
    with pytest.raises(TimeoutError):
        get(proxy, timeout=0.5)
    assert proxy.affected >= 1
    proxy.set_mode(Mode())
    assert get(proxy)[0] == 200
