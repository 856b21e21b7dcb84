"""Send many requests at once, spread over several server processes: one thread per request, each with its own
connection opened before a common barrier, so the requests reach the servers together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
from cluster import Cluster

REQUEST_TIMEOUT = 60.0


def burst(
    running: Cluster, count: int, make: Callable[[int], tuple[str, str, dict[str, Any] | None]]
) -> list[httpx.Response]:
    """``count`` requests ``make(i) -> (method, path, json_body)``, request ``i`` to node ``i % len(nodes)``.

    Every thread is joined with a bound; a request that gets no answer within the timeout fails the test
    (through the exception recorded for it) rather than hanging it."""
    barrier = threading.Barrier(count)
    results: list[httpx.Response | BaseException | None] = [None] * count

    def attempt(i: int) -> None:
        method, path, body = make(i)
        try:
            with running.client(i % len(running.nodes), timeout=REQUEST_TIMEOUT) as client:
                client.get("/openapi.json")  # connect before the barrier
                barrier.wait(timeout=REQUEST_TIMEOUT)
                results[i] = client.request(method, path, json=body)
        except BaseException as exc:  # reported below, with the request's index
            results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT * 2)
    responses: list[httpx.Response] = []
    for i, result in enumerate(results):
        if not isinstance(result, httpx.Response):
            raise AssertionError(f"request {i} got no response: {result!r}")
        responses.append(result)
    return responses


def error_types(responses: list[httpx.Response]) -> dict[str, int]:
    """``{"200": n, error_type: n, …}`` of a burst's answers."""
    counts: dict[str, int] = {}
    for response in responses:
        key = (
            "200"
            if response.status_code == 200
            else f"{response.status_code} {response.json()['error_type']}"
        )
        counts[key] = counts.get(key, 0) + 1
    return counts
