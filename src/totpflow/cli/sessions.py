"""``totpflow sessions revoke ID | --user USER_ID``: end one session, or every active session of a user, in
the server's database. A revoked session stops authenticating at once (its JWT still verifies locally
until it expires, as with Stytch). Prints the ids revoked, never a token."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from totpflow.cli._store import add_store_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("sessions", help="revoke sessions in the server's database")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    revoke = actions.add_parser("revoke", help="revoke one session, or every active session of a user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("session_id", metavar="ID", nargs="?", help="the session's id (session-test-…)")
    which.add_argument("--user", metavar="USER_ID", help="revoke every active session of this user")
    add_store_arguments(
        revoke, project="the project of the session or user (optional: an id names its project)"
    )
    revoke.set_defaults(handler=revoke_sessions)


def revoke_sessions(args: argparse.Namespace) -> int:
    from totpflow.cli._store import CommandFailed, opened, print_json, quoted, run_command
    from totpflow.server import errors
    from totpflow.server.services import admin

    def body() -> int:
        with opened(args.database_url, args.master_key_file) as (deps, shown):
            where = f"project {args.project_id}" if args.project_id else shown
            try:
                if args.user:
                    user_id = args.user
                    revoked = admin.revoke_user_sessions(deps, user_id, project_id=args.project_id)
                else:
                    user_id = admin.revoke_session(deps, args.session_id, project_id=args.project_id)
                    revoked = [args.session_id]
            except errors.ProjectNotFound:
                raise CommandFailed(f"no project {quoted(args.project_id)} in {shown}") from None
            except errors.UserNotFound:
                raise CommandFailed(f"no user {quoted(args.user)} in {where}") from None
            except errors.SessionNotFound:
                raise CommandFailed(f"no active session {quoted(args.session_id)} in {where}") from None
        if args.json:
            print_json({"user_id": user_id, "revoked": revoked})
        elif revoked:
            sys.stdout.write("".join(f"revoked {s}\n" for s in revoked))
        else:
            sys.stdout.write(f"user {user_id} has no active session\n")
        return 0

    return run_command("sessions revoke", body)
