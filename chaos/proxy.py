"""A TCP fault proxy on loopback between the load generator and the app.

Runs an asyncio loop on its own thread. In `pass` mode bytes flow unchanged; a
network fault switches the mode for a while:

    latency    each client->server chunk waits latency_ms (+ seeded jitter) first
    reset      open connections are reset (RST) and new ones are reset on accept
    blackhole  bytes are swallowed both ways: requests hang until the client's timeout

The proxy listens on 127.0.0.1 only and forwards to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
CHUNK = 65536


@dataclass(frozen=True)
class Mode:
    kind: str = "pass"  # pass | latency | reset | blackhole
    latency_s: float = 0.0
    jitter_s: float = 0.0


class FaultProxy:
    def __init__(self, upstream_port: int, rng: random.Random):
        self.upstream_port = upstream_port
        self.port = 0
        self.mode = Mode()
        self.rng = rng
        self.connections = 0
        self.affected = 0  # chunks or connections a fault mode acted on
        self.first_hit_t: float | None = None  # first effect of the current mode
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s) or not self.port:
            raise RuntimeError("fault proxy did not start")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(asyncio.start_server(self._handle, LOOPBACK, 0))
            self.port = self._server.sockets[0].getsockname()[1]
        finally:
            self._ready.set()
        loop.run_forever()
        loop.close()

    def set_mode(self, mode: Mode) -> None:
        """Switch the mode from any thread; `reset` also resets every open connection."""
        if self._loop is None:
            return
        done = threading.Event()

        def apply() -> None:
            self.mode = mode
            self.first_hit_t = None
            if mode.kind == "reset":
                for writer in list(self._open):
                    self._reset(writer)
            if mode.kind == "pass":
                # Connections that sat in a blackhole have lost bytes: close them.
                for writer in list(self._open):
                    if getattr(writer, "_chaos_holed", False):
                        self._reset(writer)
            done.set()

        self._loop.call_soon_threadsafe(apply)
        done.wait(5)

    def stop(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._open):
                writer.transport.abort()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        except Exception:
            pass
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- connection handling (on the proxy's loop) --------------------------

    def _hit(self) -> None:
        self.affected += 1
        if self.first_hit_t is None:
            self.first_hit_t = time.time()

    def _reset(self, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            try:  # linger 0: close() sends RST, as a reset_peer toxic does
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        writer.transport.abort()
        self._open.discard(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.mode.kind == "reset":
            self._hit()
            self._reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(LOOPBACK, self.upstream_port)
        except OSError:
            self._reset(writer)
            return
        self._open.update((writer, up_writer))
        await asyncio.gather(
            self._pump(reader, up_writer, writer, upstream=True),
            self._pump(up_reader, writer, up_writer, upstream=False),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            self._open.discard(w)
            w.transport.abort()

    async def _pump(
        self,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        peer: asyncio.StreamWriter,
        upstream: bool,
    ) -> None:
        while True:
            data = await src.read(CHUNK)
            if not data:
                break
            mode = self.mode
            if mode.kind == "blackhole":
                self._hit()
                dst._chaos_holed = True  # type: ignore[attr-defined]
                peer._chaos_holed = True  # type: ignore[attr-defined]
                continue
            if mode.kind == "reset":
                self._hit()
                self._reset(dst)
                self._reset(peer)
                break
            if mode.kind == "latency" and upstream:
                self._hit()
                await asyncio.sleep(mode.latency_s + self.rng.uniform(0, mode.jitter_s))
            dst.write(data)
            await dst.drain()
        if dst.can_write_eof():
            try:
                dst.write_eof()
            except OSError:
                pass
