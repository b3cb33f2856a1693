"""A trivial HTTP/1.1 endpoint on 127.0.0.1 for load-generator benchmarks and tests.

    python -m bench.load_server [--port 0] [--stall-after-s 3 --stall-s 2] [--fail-first 5]

Prints `listening on <port>` once ready. Answers every request with 200 and a
small body from a bare asyncio protocol (fast enough that the generator, not the
server, is what a benchmark measures). Options for tests: one stall (from
`stall-after-s` after the first request, every answer waits until the stall
ends), and `fail-first N` (the first N requests get 503).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

BODY = b"ok"


def _response(status: bytes, body: bytes) -> bytes:
    return b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode() + \
        b"\r\nContent-Type: text/plain\r\n\r\n" + body


OK = _response(b"200 OK", BODY)
SHED = _response(b"503 Service Unavailable", b"shed")


class Behaviour:
    def __init__(self, stall_after_s: float | None, stall_s: float, fail_first: int):
        self.stall_after_s = stall_after_s
        self.stall_s = stall_s
        self.fail_left = fail_first
        self.first: float | None = None
        self.requests = 0

    def answer(self, now: float) -> tuple[bytes, float]:
        """The response and the loop time at which to send it."""
        self.requests += 1
        if self.first is None:
            self.first = now
        if self.fail_left > 0:
            self.fail_left -= 1
            return SHED, now
        if self.stall_after_s is not None:
            start = self.first + self.stall_after_s
            end = start + self.stall_s
            if start <= now < end:
                return OK, end
        return OK, now


class HttpProtocol(asyncio.Protocol):
    def __init__(self, behaviour: Behaviour):
        self.behaviour = behaviour
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        loop = asyncio.get_running_loop()
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = _content_length(self.buffer[:head_end])
            if len(self.buffer) < head_end + 4 + length:
                return
            self.buffer = self.buffer[head_end + 4 + length:]
            now = loop.time()
            payload, when = self.behaviour.answer(now)
            if when <= now:
                self.transport.write(payload)
            else:
                loop.call_at(when, self._late_write, payload)

    def _late_write(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip() or 0)
    return 0


async def serve(port: int, behaviour: Behaviour) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: HttpProtocol(behaviour), "127.0.0.1", port, backlog=1024)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stall-after-s", type=float, default=None)
    parser.add_argument("--stall-s", type=float, default=2.0)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.port, Behaviour(args.stall_after_s, args.stall_s, args.fail_first)))
    except KeyboardInterrupt:
        pass
    return 0


@contextlib.contextmanager
def running_server(*options: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the endpoint in its own process; yield (url, process); stop it by its pid."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.load_server", *options],
        stdout=subprocess.PIPE, cwd=root, env=env, start_new_session=True,
    )
    try:
        line = proc.stdout.readline().decode() if proc.stdout else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"load server did not start (said {line!r})")
        yield f"http://127.0.0.1:{int(line.split()[-1])}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
