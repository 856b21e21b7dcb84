"""``totpflow project``: the projects of the server's database.

``create`` makes a project and prints its credentials as JSON; ``list`` shows every project (id, name,
created, number of users; never a secret); ``reset-secret`` gives a project a new secret and prints it. A
secret is printed once, by the command that made it: the database keeps only a keyed hash of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from totpflow.cli._store import add_store_arguments


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "project", help="create, list and re-key the projects of the server's database"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="create a project and print {project_id, secret, name} as JSON"
    )
    create.add_argument("--name", default="totpflow", help="project name (default totpflow)")
    add_store_arguments(create, project=None, output=False)
    # Its output is JSON either way; the flag is taken, as every other store command takes it.
    create.add_argument("--json", action="store_true", help="print JSON (as it does without the flag)")
    create.set_defaults(handler=create_project)
    listing = actions.add_parser("list", help="list the projects: id, name, created, number of users")
    add_store_arguments(listing, project=None)
    listing.set_defaults(handler=list_projects)
    reset = actions.add_parser(
        "reset-secret",
        help="give a project a new secret and print it (once); the old secret stops working",
        description="Give the project a new secret and print it; the database keeps only its hash, so this "
        "is the only time it is shown. The old secret is refused by the next request to any running "
        "`totpflow serve`.",
    )
    reset.add_argument("project_id", metavar="ID", help="the project (see `totpflow project list`)")
    add_store_arguments(reset, project=None)
    reset.set_defaults(handler=reset_secret)


def fail(message: str) -> int:
    sys.stderr.write(f"totpflow project: {message}\n")
    return 2


def create_project(args: argparse.Namespace) -> int:
    from totpflow.cli._store import CommandFailed, open_deps
    from totpflow.server import errors, services
    from totpflow.server.services import validation

    try:  # before the store is opened: a refused name leaves no new database behind
        validation.project_name(args.name)
    except errors.InvalidArgument as exc:
        return fail(f"the {exc.field} is invalid: {exc.reason}")
    try:
        deps, _shown = open_deps(args.database_url, args.master_key_file, create=True)
    except CommandFailed as exc:
        return fail(str(exc))
    try:
        project, secret = services.create_project(deps, name=args.name)
    except errors.InvalidArgument as exc:
        return fail(f"the {exc.field} is invalid: {exc.reason}")
    except errors.MasterKeyError as exc:
        return fail(str(exc))
    finally:
        deps.store.dispose()
    created = {"project_id": project.project_id, "secret": secret, "name": project.name}
    sys.stdout.write(json.dumps(created) + "\n")
    return 0


def list_projects(args: argparse.Namespace) -> int:
    from totpflow.cli._store import opened, print_json, print_table, run_command, timestamp
    from totpflow.server.services import admin

    def body() -> int:
        with opened(args.database_url, args.master_key_file) as (deps, _shown):
            found = admin.list_projects(deps)
        if args.json:
            print_json(
                [
                    {
                        "project_id": p.project_id,
                        "name": p.name,
                        "created_at": timestamp(p.created_at),
                        "users": p.users,
                    }
                    for p in found
                ]
            )
        else:
            rows = [(p.project_id, p.name, timestamp(p.created_at), p.users) for p in found]
            print_table(None, ("PROJECT ID", "NAME", "CREATED", "USERS"), rows)
        return 0

    return run_command("project list", body)


def reset_secret(args: argparse.Namespace) -> int:
    from totpflow.cli._store import CommandFailed, opened, print_json, quoted, run_command
    from totpflow.server import errors
    from totpflow.server.services.projects import reset_project_secret

    def body() -> int:
        with opened(args.database_url, args.master_key_file) as (deps, shown):
            try:
                secret = reset_project_secret(deps, args.project_id)
            except errors.ProjectNotFound:
                raise CommandFailed(f"no project {quoted(args.project_id)} in {shown}") from None
        if args.json:
            print_json({"project_id": args.project_id, "secret": secret})
        else:
            sys.stdout.write(f"project {args.project_id}\nnew secret (shown only now): {secret}\n")
        return 0

    return run_command("project reset-secret", body)
