"""A minimal asyncio HTTP/1.1 keep-alive load generator for loopback benchmarks.

Why not httpx: an ``httpx.AsyncClient`` costs about 0.5–1.5 ms of CPU per request on the 2-core benchmark
machine (benchmarking.md, "Traps"), so at 3,000 requests/s it would eat the whole box and measure itself.
This client writes one request per ``writer.write`` (RFC 9112 §3 request line + headers + body), sets
``TCP_NODELAY`` (no Nagle/delayed-ACK stalls, RFC 1122 §4.2.3.4) and parses only what it needs from the
response: the status line, ``Content-Length`` or ``chunked`` framing (RFC 9112 §6), and the body.

Two load shapes:

* :func:`closed_loop` — ``concurrency`` connections, each running flows back to back: the throughput ceiling.
* :func:`open_loop` — flows start at a fixed arrival rate whatever the server does; latency is measured from
  the *scheduled* start, so a stalled server is charged for the queue it causes (no coordinated omission).

Both are bounded in flow count and in wall time, and report the generator's own CPU time
(``resource.getrusage``) so a reader can see whether the generator or the server was measured.
"""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["Connection", "HttpError", "LoadResult", "Pool", "closed_loop", "open_loop", "percentile"]


class HttpError(Exception):
    """The server answered with an unexpected status or broke the framing."""


class Connection:
    """One keep-alive HTTP/1.1 connection to ``host:port``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host.encode()

    @classmethod
    async def open(cls, base_url: str) -> Connection:
        parts = urlsplit(base_url)
        host = parts.hostname or "127.0.0.1"
        port = parts.port or 80
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer, f"{host}:{port}")

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request; return ``(status, body)``. ``headers``: ready ``Name: value\\r\\n`` lines."""
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (method.encode(), path.encode(), self._host, headers)
        if body is not None:
            head += b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        self._writer.write(head + b"\r\n" + (body or b""))
        status_and_headers = await self._reader.readuntil(b"\r\n\r\n")
        lines = status_and_headers.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            raise HttpError("malformed status line") from None
        length = -1
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            return status, await self._read_chunked()
        if length < 0:
            raise HttpError("response without Content-Length on a keep-alive connection")
        return status, await self._reader.readexactly(length)

    async def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = await self._reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers expected: the final CRLF
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass


# Servers close a kept-alive connection that stays idle for their keep-alive timeout (5 s for uvicorn and for
# Node's http server, so for both totpflow and Prism). A request written as the server closes is lost, so, as
# HTTP clients do (undici keeps 4 s by default), a connection idle for longer than this is not used again.
IDLE_REUSE_SECONDS = 4.0


class Pool:
    """Idle keep-alive connections to one server, opened on demand up to ``limit``; the most recently used is
    reused first, and one idle for ``IDLE_REUSE_SECONDS`` is closed instead."""

    def __init__(self, base_url: str, limit: int) -> None:
        self._base_url = base_url
        self._idle: list[tuple[Connection, float]] = []  # with when each was released
        self._all: list[Connection] = []
        self._slots = asyncio.Semaphore(limit)

    async def acquire(self) -> Connection:
        await self._slots.acquire()
        now = time.monotonic()
        while self._idle:
            connection, released = self._idle.pop()
            if now - released < IDLE_REUSE_SECONDS:
                return connection
            await connection.close()
            self._all.remove(connection)
        connection = await Connection.open(self._base_url)
        self._all.append(connection)
        return connection

    async def replace(self, broken: Connection) -> None:
        """Close a connection left in an unknown state and put a fresh one in its slot."""
        await broken.close()
        self._all.remove(broken)
        fresh = await Connection.open(self._base_url)
        self._all.append(fresh)
        self.release(fresh)

    def release(self, connection: Connection) -> None:
        self._idle.append((connection, time.monotonic()))
        self._slots.release()

    async def close(self) -> None:
        for connection in self._all:
            await connection.close()


Flow = Callable[[Connection, int], Awaitable[None]]


@dataclass
class LoadResult:
    """What one load run measured. Latencies are seconds per flow."""

    flows: int
    wall_s: float
    cpu_s: float  # the generator's own user + system CPU over the run
    latencies: list[float] = field(repr=False)
    errors: int = 0
    requests_per_flow: int = 1
    unfinished: int = 0  # open loop: flows still running at the drain deadline (latency = a lower bound)
    error_reasons: Counter[str] = field(default_factory=Counter)  # why flows failed: "create user: 429", …

    @property
    def flows_per_s(self) -> float:
        return self.flows / self.wall_s if self.wall_s else 0.0

    @property
    def requests_per_s(self) -> float:
        return self.flows_per_s * self.requests_per_flow

    @property
    def cpu_share(self) -> float:
        """Generator CPU seconds per wall second (1.0 = one whole core)."""
        return self.cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        requests = self.flows * self.requests_per_flow
        return self.cpu_s / requests * 1e6 if requests else 0.0

    def latency_ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def summary(self) -> dict[str, float | int]:
        return {
            "flows": self.flows,
            "errors": self.errors,
            "error_reasons": dict(self.error_reasons.most_common()),
            "unfinished": self.unfinished,
            "wall_s": round(self.wall_s, 3),
            "flows_per_s": round(self.flows_per_s, 1),
            "requests_per_s": round(self.requests_per_s, 1),
            "p50_ms": round(self.latency_ms(50), 2),
            "p95_ms": round(self.latency_ms(95), 2),
            "p99_ms": round(self.latency_ms(99), 2),
            "generator_cpu_s": round(self.cpu_s, 3),
            "generator_cpu_share": round(self.cpu_share, 3),
            "generator_cpu_us_per_request": round(self.cpu_us_per_request, 1),
        }


def failure(exc: Exception) -> str:
    """Why a flow failed: an ``HttpError``'s message ("create user: 429"), else the exception's type."""
    return str(exc) if isinstance(exc, HttpError) else type(exc).__name__


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def closed_loop(
    base_url: str,
    flow: Flow,
    *,
    concurrency: int,
    max_flows: int,
    max_seconds: float,
    requests_per_flow: int = 1,
) -> LoadResult:
    """Run ``flow`` back to back on ``concurrency`` connections until ``max_flows`` or ``max_seconds``."""
    connections = [await Connection.open(base_url) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    reasons: Counter[str] = Counter()
    issued = 0
    deadline = time.perf_counter() + max_seconds

    async def worker(connection: Connection) -> None:
        nonlocal issued, errors
        while issued < max_flows and time.perf_counter() < deadline:
            number = issued
            issued += 1
            begin = time.perf_counter()
            try:
                await flow(connection, number)
            except (HttpError, KeyError, ValueError) as exc:
                errors += 1
                reasons[failure(exc)] += 1
                continue
            latencies.append(time.perf_counter() - begin)

    cpu0, wall0 = _cpu(), time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    for connection in connections:
        await connection.close()
    return LoadResult(len(latencies), wall, cpu, latencies, errors, requests_per_flow, error_reasons=reasons)


async def open_loop(
    base_url: str,
    flow: Flow,
    *,
    rate: float,
    max_flows: int,
    max_seconds: float,
    max_connections: int = 256,
    requests_per_flow: int = 1,
    drain_seconds: float = 10.0,
) -> LoadResult:
    """Start one flow every ``1/rate`` s (fixed schedule) for ``min(max_flows, rate*max_seconds)`` flows.

    Each latency runs from the flow's scheduled start to its end, so time spent waiting for a free connection
    or behind a slow server is counted. Flows still running ``drain_seconds`` after the last start are
    cancelled and counted as ``unfinished``, with their age so far as latency (an underestimate), so an
    overloaded server shows up in the percentiles instead of stretching the run without bound.
    """
    total = min(max_flows, int(rate * max_seconds))
    pool = Pool(base_url, max_connections)
    latencies: list[float] = []
    errors = 0
    reasons: Counter[str] = Counter()
    loop = asyncio.get_running_loop()

    async def one(number: int, scheduled: float) -> None:
        nonlocal errors
        connection = await pool.acquire()
        try:
            await flow(connection, number)
        except (HttpError, KeyError, ValueError, ConnectionError, asyncio.IncompleteReadError) as exc:
            errors += 1
            reasons[failure(exc)] += 1
            await pool.replace(connection)
            return
        pool.release(connection)
        latencies.append(loop.time() - scheduled)

    # Warm the pool so connection set-up is not charged to the first flows.
    warm = [await pool.acquire() for _ in range(min(8, max_connections))]
    for connection in warm:
        pool.release(connection)
    tasks: dict[asyncio.Task[None], float] = {}  # flow → its scheduled start
    cpu0, wall0 = _cpu(), time.perf_counter()
    start = loop.time()
    for number in range(total):
        scheduled = start + number / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks[asyncio.create_task(one(number, scheduled))] = scheduled
    _, pending = await asyncio.wait(tasks, timeout=drain_seconds)
    now = loop.time()
    for task in pending:
        task.cancel()
        latencies.append(now - tasks[task])
    if pending:
        await asyncio.wait(pending)
    wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    await pool.close()
    result = LoadResult(
        len(latencies), wall, cpu, latencies, errors, requests_per_flow, len(pending), error_reasons=reasons
    )
    result.flows -= len(pending)  # throughput counts finished flows only
    return result
