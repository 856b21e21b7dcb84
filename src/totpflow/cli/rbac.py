"""``totpflow rbac set FILE`` and ``totpflow rbac show``: a project's RBAC policy.

The policy (resources with their actions, roles with permissions, scopes) is what ``GET /v1/rbac/policy``
serves and what ``authorization_check`` on ``/v1/sessions/authenticate`` evaluates. ``set`` reads a YAML or
JSON file (``.json`` is parsed as JSON, anything else as YAML), validates it — every problem is reported with
its location, and nothing is stored unless the whole file is valid — and replaces the project's policy;
running servers use it from their next request. ``show`` prints the policy in Stytch's wire shape as JSON.
Without ``--project-id`` the project is ``$TOTPFLOW_PROJECT_ID``, else the database's only project.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from totpflow.cli._store import PROJECT_HELP, add_store_arguments, quoted


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("rbac", help="set or show a project's RBAC policy")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_cmd = actions.add_parser("set", help="replace the project's RBAC policy with FILE (YAML or JSON)")
    set_cmd.add_argument("file", metavar="FILE", help="the policy: {resources, roles, scopes}")
    show = actions.add_parser("show", help="print the project's RBAC policy as JSON")
    for sub in (set_cmd, show):
        add_store_arguments(sub, project=PROJECT_HELP, output=False)
    set_cmd.set_defaults(handler=set_policy)
    show.set_defaults(handler=show_policy)


class _Failed(Exception):
    pass


def fail(message: str) -> int:
    sys.stderr.write(f"totpflow rbac: {message}\n")
    return 2


MAX_POLICY_BYTES = 1 << 20  # a policy of a thousand roles is a few hundred KiB


def read_document(path: Path) -> Any:
    """The file's content as data; ``_Failed`` with the parser's location when it does not parse, and for a
    file larger than ``MAX_POLICY_BYTES`` (``/dev/zero`` never ends), nested too deeply or holding an
    integer too long to read."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_POLICY_BYTES + 1)
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Failed(f"cannot read {path}: {type(exc).__name__}") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise _Failed(f"{path}: larger than {MAX_POLICY_BYTES // 1024} KiB, no RBAC policy is that large")
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text, object_pairs_hook=_unique_keys)
        except json.JSONDecodeError as exc:
            raise _Failed(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
        except _DuplicateKey as exc:
            raise _Failed(f"{path}: not a policy (the key {exc} appears twice in one object)") from None
        except (RecursionError, ValueError):
            raise _Failed(f"{path}: not a policy (nested too deeply, or an integer too long)") from None
    import yaml

    try:
        return yaml.load(text, Loader=_unique_key_loader())
    except (RecursionError, ValueError):
        raise _Failed(f"{path}: not a policy (nested too deeply, or an integer too long)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or "syntax error"
        raise _Failed(f"{where}: not valid YAML ({problem})") from None


class _DuplicateKey(Exception):
    """A key given twice in one JSON object (its quoted name is the message)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict, refusing a key given twice: json keeps the last one, and half of a
    policy would be dropped without a word."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(quoted(key))
        seen[key] = value
    return seen


def _unique_key_loader() -> Any:
    """PyYAML's safe loader refusing a key given twice in one mapping (YAML requires keys to be unique; PyYAML
    keeps the last one), at the second key's line and column. Merge keys (``<<``) are left to the loader."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # an unhashable key: the loader itself refuses it
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {quoted(str(key))} appears twice", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def _run(args: argparse.Namespace, document: Any, *, setting: bool) -> int:
    from totpflow.cli._store import CommandFailed, choose_project, opened, quoted
    from totpflow.server import errors, services
    from totpflow.server.domain import rbac

    try:
        with opened(args.database_url, args.master_key_file) as (deps, shown):
            project_id = choose_project(deps, shown, args.project_id)
            try:
                if not setting:
                    policy = services.show_rbac_policy(deps, project_id)
                else:
                    policy = services.set_rbac_policy(deps, project_id, document)
            except errors.ProjectNotFound:
                return fail(f"no project {quoted(project_id)} in {shown}")
            except errors.InvalidRbacPolicy as exc:
                lines = "\n".join(f"  {problem}" for problem in exc.problems)
                return fail(f"{args.file}: the policy is invalid (nothing was changed):\n{lines}")
            except errors.RbacPolicyUnreadable:
                return fail(
                    f"the stored policy of {quoted(project_id)} cannot be read; set a new one with `rbac set`"
                )
    except CommandFailed as exc:
        return fail(str(exc))
    sys.stdout.write(
        json.dumps({"project_id": project_id, "policy": rbac.policy_json(policy)}, indent=2) + "\n"
    )
    return 0


def set_policy(args: argparse.Namespace) -> int:
    try:
        document = read_document(Path(args.file))
    except _Failed as exc:
        return fail(str(exc))
    return _run(args, document, setting=True)


def show_policy(args: argparse.Namespace) -> int:
    return _run(args, None, setting=False)
