"""``totpflow project create``: create a project in the server's database and print its credentials as JSON.

The secret is printed once, here; the database keeps only a keyed hash of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("project", help="manage projects of the server's database")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create a project and print {project_id, secret, name} as JSON"
    )
    create.add_argument("--name", default="totpflow", help="project name (default totpflow)")
    create.add_argument(
        "--database-url", help="sqlite:///PATH or postgresql://… (default: $TOTPFLOW_DATABASE_URL)"
    )
    create.set_defaults(handler=create_project)


def fail(message: str) -> int:
    sys.stderr.write(f"totpflow project: {message}\n")
    return 2


def create_project(args: argparse.Namespace) -> int:
    from totpflow.cli._store import CommandFailed, open_deps
    from totpflow.server import errors, services

    try:
        deps, _shown = open_deps(args.database_url)
    except CommandFailed as exc:
        return fail(str(exc))
    try:
        project, secret = services.create_project(deps, name=args.name)
    except errors.InvalidArgument as exc:
        return fail(f"{exc.field} is invalid")
    finally:
        deps.store.dispose()
    created = {"project_id": project.project_id, "secret": secret, "name": project.name}
    sys.stdout.write(json.dumps(created) + "\n")
    return 0
