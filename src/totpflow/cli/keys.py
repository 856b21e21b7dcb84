"""``totpflow keys rotate``: give a project a new session-JWT signing key and print ``{project_id, kid}``.

The new key signs from now on; the JWKS keeps serving the previous one until the last JWT it signed has
expired (``totpflow.server.services.keys``). Private keys are stored encrypted under the master key, as
``totpflow serve`` stores them, so run this with the same ``TOTPFLOW_MASTER_KEY`` (or, on SQLite, beside the
same key file). Without ``--project-id`` the project is ``$TOTPFLOW_PROJECT_ID``, else the database's only
project.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "keys", help="manage the session-JWT signing keys of the server's projects"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate", help="make a new signing key the project's signing key and print {project_id, kid} as JSON"
    )
    rotate.add_argument(
        "--project-id", help="the project (default: $TOTPFLOW_PROJECT_ID, else the database's only project)"
    )
    rotate.add_argument(
        "--database-url", help="sqlite:///PATH or postgresql://… (default: $TOTPFLOW_DATABASE_URL)"
    )
    rotate.set_defaults(handler=rotate_key)


def fail(message: str) -> int:
    sys.stderr.write(f"totpflow keys: {message}\n")
    return 2


def rotate_key(args: argparse.Namespace) -> int:
    from totpflow.cli._store import CommandFailed, open_deps
    from totpflow.server import errors, services
    from totpflow.server.config import PROJECT_ID_ENV
    from totpflow.server.services.keys import ForeignMasterKey

    try:
        deps, shown = open_deps(args.database_url)
    except CommandFailed as exc:
        return fail(str(exc))
    try:
        project_id = args.project_id or os.environ.get(PROJECT_ID_ENV)
        if not project_id:
            found = services.list_project_ids(deps, 2)
            if len(found) != 1:
                what = "no project" if not found else "several projects"
                return fail(f"the database has {what}; name one with --project-id")
            project_id = found[0]
        try:
            kid = services.rotate_signing_key(deps, project_id)
        except errors.ProjectNotFound:
            return fail(f"no project {project_id!r} in {shown}")
        except ForeignMasterKey:
            return fail(
                "this master key does not decrypt the project's signing key; run with the servers' "
                "TOTPFLOW_MASTER_KEY (nothing was changed)"
            )
    finally:
        deps.store.dispose()
    sys.stdout.write(json.dumps({"project_id": project_id, "kid": kid}) + "\n")
    return 0
