"""Every method and route the app serves, taken from the route table the app is built with
(``totpflow.server.app.served_routes()``, so a route added there is covered by the suites that use this
without an entry of their own), with well-formed ids of no object in the path and the query: a request to one
can change no data. Shared by ``tests/server/http`` and ``tests/reliability``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from totpflow.server.app import served_routes
from totpflow.server.http.routes import OPERATIONS


@dataclass(frozen=True)
class ServedRoute:
    """A method and route of the app, with ids of no object in its path and query."""

    method: str
    path: str
    target: str
    takes_body: bool

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def no_such(name: str) -> str:
    """A well-formed id of no object for a parameter named ``name`` (``user_id`` → ``user-test-0000…``)."""
    if name.endswith("_id"):
        return f"{name[:-3]}-test-00000000-0000-4000-8000-000000000000"
    return "no-such-value"


def every_route() -> list[ServedRoute]:
    """Every (method, path) the app routes: a route added to the app is covered here."""
    query = {
        (op.method, op.path): [p["name"] for p in op.parameters if p["in"] == "query"] for op in OPERATIONS
    }
    found = []
    for route in served_routes():
        for method in sorted((getattr(route, "methods", None) or set()) - {"HEAD"}):
            target = re.sub(r"\{([a-z_]+)(?::[^}]*)?\}", lambda m: no_such(m.group(1)), route.path)
            names = query.get((method, route.path), [])
            if names:
                target += "?" + "&".join(f"{n}={no_such(n)}" for n in names)
            found.append(ServedRoute(method, route.path, target, method in ("POST", "PUT", "PATCH")))
    return found
