"""``totpflow keys rotate``: start a rollover to a new session-JWT signing key and print
``{project_id, kid, signs_from, replaces}``.

The new key is published in the JWKS at once and signs from ``signs_from``, ``--publish-for`` later (default
1h), so every JWKS cache that refreshes within that time knows it before it signs; the key it replaces stays
published and verifying for 30 days (``totpflow.server.services.keys``). ``--now`` is for an emergency: the
new key signs at once, and clients holding a JWKS fetched earlier cannot verify its JWTs until they fetch
again. Private keys are stored encrypted under the master key, as ``totpflow serve`` stores them, so run this
with the same ``TOTPFLOW_MASTER_KEY`` (or, on SQLite, beside the same key file). Without ``--project-id`` the
project is ``$TOTPFLOW_PROJECT_ID``, else the database's only project.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from totpflow.cli._store import PROJECT_HELP, add_store_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "keys", help="manage the session-JWT signing keys of the server's projects"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate",
        help="publish a new signing key now, let it sign after --publish-for, and print "
        "{project_id, kid, signs_from, replaces} as JSON",
    )
    when = rotate.add_mutually_exclusive_group()
    when.add_argument(
        "--publish-for",
        metavar="DURATION",
        help="how long the new key is published before it signs: 90s, 30m, 1h, 2d (default: "
        "$TOTPFLOW_KEY_PUBLISH_FOR, else 1h)",
    )
    when.add_argument(
        "--now",
        action="store_true",
        help="emergency: the new key signs at once (clients with a JWKS fetched earlier fail to verify its "
        "JWTs until they fetch it again)",
    )
    add_store_arguments(rotate, project=PROJECT_HELP, output=False)
    rotate.set_defaults(handler=rotate_key)


def fail(message: str) -> int:
    sys.stderr.write(f"totpflow keys: {message}\n")
    return 2


def rotate_key(args: argparse.Namespace) -> int:
    from totpflow.cli._store import CommandFailed, choose_project, open_deps, quoted
    from totpflow.server import errors, services
    from totpflow.server.policy import parse_duration

    publish_for: timedelta | None = None  # None: the policy's (TOTPFLOW_KEY_PUBLISH_FOR, else 1h)
    if args.now:
        publish_for = timedelta(0)
    elif args.publish_for is not None:
        try:
            publish_for = parse_duration(args.publish_for)
        except ValueError as exc:
            return fail(f"--publish-for: {exc}")
        if not publish_for:
            return fail("--publish-for 0 would sign at once: that is --now, the emergency rollover")

    try:
        deps, shown = open_deps(args.database_url, args.master_key_file, key_settings=True)
    except CommandFailed as exc:
        return fail(str(exc))
    try:
        try:
            project_id = choose_project(deps, shown, args.project_id)
        except CommandFailed as exc:
            return fail(str(exc))
        try:
            rotation = services.rotate_signing_key(deps, project_id, publish_for=publish_for)
        except errors.RotationPending as pending:
            return fail(
                f"a rollover is under way: key {pending.kid} signs from {timestamp(pending.signs_from)}; "
                "wait for it, or rotate again with --now"
            )
        except errors.ProjectNotFound:
            return fail(f"no project {quoted(project_id)} in {shown}")
        except errors.ForeignMasterKey:
            return fail(
                "this master key does not decrypt the project's signing key; run with the servers' "
                "TOTPFLOW_MASTER_KEY (nothing was changed)"
            )
    finally:
        deps.store.dispose()
    if args.now:
        sys.stderr.write(
            f"totpflow keys: key {rotation.kid} signs from now on. Until they fetch the JWKS again, clients "
            "that cached it earlier cannot verify the JWTs it signs: Python's PyJWKClient and Node's jose "
            "refetch for an unknown kid at most every 30 s, Go's keyfunc every 5 minutes; meanwhile "
            'local-only verification (authenticate_jwt_local, authenticateJwtLocal) fails with "Unable to '
            'find a signing key" and authenticate_jwt falls back to the API. The replaced key stays '
            "published and verifying for the retention period.\n"
        )
    printed = {
        "project_id": project_id,
        "kid": rotation.kid,
        "signs_from": timestamp(rotation.signs_from),
        "replaces": rotation.replaces,
    }
    sys.stdout.write(json.dumps(printed) + "\n")
    return 0


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
