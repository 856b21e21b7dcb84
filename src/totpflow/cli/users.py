"""``totpflow users``: the users of the server's database, for an operator.

``list`` shows a project's users (id, email, status, TOTP, lock, failures); ``show ID`` one user with its
active sessions; ``unlock ID`` lifts a lock made by wrong codes and clears the failure count; ``delete ID``
deletes the user with its authenticator, recovery codes and sessions. A user id names its project, so only
``list`` needs one (``--project-id``, ``$TOTPFLOW_PROJECT_ID``, or the database's only project). Nothing
shown is a secret, code or token.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from totpflow.cli._store import add_store_arguments

if TYPE_CHECKING:
    from collections.abc import Callable

    from totpflow.server.services import Deps
    from totpflow.server.services.admin import UserDetail, UserOverview

LIMIT_MAX = 100_000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "users", help="list, show, unlock and delete the users of the server's database"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list a project's users (id, email, status, TOTP, lock)")
    add_store_arguments(
        listing, project="the project (default: $TOTPFLOW_PROJECT_ID, else the database's only project)"
    )
    listing.add_argument("--email", help="only the user with this email address (any case)")
    listing.add_argument(
        "--limit", type=int, default=1000, metavar="N", help="at most N users (default 1000)"
    )
    listing.set_defaults(handler=list_users)
    owner = "the user's project (optional: a user id names its project)"
    for action, text, handler in (
        ("show", "a user's TOTP state, lock, failure count and active sessions", show_user),
        ("unlock", "lift a user's lock and clear its count of failed codes", unlock_user),
        ("delete", "delete a user with its authenticator, recovery codes and sessions", delete_user),
    ):
        command = actions.add_parser(action, help=text)
        command.add_argument("user_id", metavar="ID", help="the user's id (user-test-…)")
        add_store_arguments(command, project=owner)
        command.set_defaults(handler=handler)


def list_users(args: argparse.Namespace) -> int:
    from totpflow.cli._store import (
        CommandFailed,
        choose_project,
        opened,
        print_json,
        print_table,
        run_command,
    )
    from totpflow.server.services import admin

    def body() -> int:
        if not 1 <= args.limit <= LIMIT_MAX:
            raise CommandFailed(f"--limit must be between 1 and {LIMIT_MAX}")
        with opened(args.database_url, args.master_key_file) as (deps, shown):
            project_id = choose_project(deps, shown, args.project_id)
            found = admin.list_users(deps, project_id, email=args.email, limit=args.limit)
        if args.json:
            print_json([_user_json(u) for u in found])
            return 0
        rows = [
            (
                u.summary.user_id,
                ", ".join(u.summary.emails),
                u.summary.status,
                u.summary.totp,
                _lock_text(u),
                u.summary.failed_attempts,
                _when(u.summary.created_at),
            )
            for u in found
        ]
        print_table(
            f"project {project_id}: {len(found)} user{'' if len(found) == 1 else 's'}",
            ("USER ID", "EMAIL", "STATUS", "TOTP", "LOCKED", "FAILURES", "CREATED"),
            rows,
        )
        return 0

    return run_command("users list", body)


def show_user(args: argparse.Namespace) -> int:
    from totpflow.server.services import admin

    return _one_user(
        args, "users show", lambda deps: admin.show_user(deps, args.user_id, project_id=args.project_id)
    )


def unlock_user(args: argparse.Namespace) -> int:
    from totpflow.server.services import admin

    return _one_user(
        args, "users unlock", lambda deps: admin.unlock_user(deps, args.user_id, project_id=args.project_id)
    )


def delete_user(args: argparse.Namespace) -> int:
    from totpflow.cli._store import opened, print_json, run_command
    from totpflow.server import errors
    from totpflow.server.services import admin

    def body() -> int:
        with opened(args.database_url, args.master_key_file) as (deps, shown):
            try:
                project_id = admin.delete_user(deps, args.user_id, project_id=args.project_id)
            except (errors.UserNotFound, errors.ProjectNotFound) as exc:
                raise _not_found(exc, args, shown) from None
        if args.json:
            print_json({"user_id": args.user_id, "project_id": project_id, "deleted": True})
        else:
            sys.stdout.write(f"deleted user {args.user_id} (project {project_id})\n")
        return 0

    return run_command("users delete", body)


def _one_user(args: argparse.Namespace, command: str, action: Callable[[Deps], UserDetail]) -> int:
    from totpflow.cli._store import opened, print_fields, print_json, print_table, run_command
    from totpflow.server import errors

    def body() -> int:
        with opened(args.database_url, args.master_key_file) as (deps, shown):
            try:
                detail = action(deps)
            except (errors.UserNotFound, errors.ProjectNotFound) as exc:
                raise _not_found(exc, args, shown) from None
        if args.json:
            print_json(_detail_json(detail))
            return 0
        user = detail.overview.summary
        print_fields(
            [
                ("user id", user.user_id),
                ("project id", user.project_id),
                ("email", ", ".join(user.emails)),
                ("status", user.status),
                ("created", _when(user.created_at)),
                ("TOTP", user.totp),
                ("locked", _lock_text(detail.overview)),
                ("failed codes", user.failed_attempts),
                ("active sessions", len(detail.sessions)),
            ]
        )
        if detail.sessions:
            rows = [
                (s.session_id, _when(s.started_at), _when(s.last_accessed_at), _when(s.expires_at))
                for s in detail.sessions
            ]
            print_table(None, ("SESSION ID", "STARTED", "LAST ACCESSED", "EXPIRES"), rows)
        return 0

    return run_command(command, body)


def _not_found(exc: Exception, args: argparse.Namespace, shown: str) -> Exception:
    from totpflow.cli._store import CommandFailed, quoted
    from totpflow.server import errors

    if isinstance(exc, errors.ProjectNotFound):
        return CommandFailed(f"no project {quoted(args.project_id)} in {shown}")
    where = f"project {args.project_id}" if args.project_id else shown
    return CommandFailed(f"no user {quoted(args.user_id)} in {where}")


def _when(value: Any) -> str:
    from totpflow.cli._store import timestamp

    return timestamp(value) or ""


def _lock_text(user: UserOverview) -> str:
    return f"until {_when(user.summary.lock_expires_at)}" if user.locked else "no"


def _user_json(user: UserOverview) -> dict[str, Any]:
    from totpflow.cli._store import timestamp

    s = user.summary
    return {
        "user_id": s.user_id,
        "project_id": s.project_id,
        "emails": list(s.emails),
        "status": s.status,
        "created_at": timestamp(s.created_at),
        "totp": s.totp,
        "locked": user.locked,
        "lock_expires_at": timestamp(s.lock_expires_at) if user.locked else None,
        "failed_attempts": s.failed_attempts,
    }


def _detail_json(detail: UserDetail) -> dict[str, Any]:
    from totpflow.cli._store import timestamp

    return {
        **_user_json(detail.overview),
        "active_sessions": len(detail.sessions),
        "sessions": [
            {
                "session_id": s.session_id,
                "started_at": timestamp(s.started_at),
                "last_accessed_at": timestamp(s.last_accessed_at),
                "expires_at": timestamp(s.expires_at),
            }
            for s in detail.sessions
        ],
    }
