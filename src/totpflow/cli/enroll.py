"""``totpflow enroll``: enroll an authenticator app through the shipped TOTP-enrollment workflow."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from totpflow.arazzo.printable import printable
from totpflow.cli._store import MASTER_KEY_FILE_HELP

if TYPE_CHECKING:
    from totpflow.enroll import CodeRequest

EPILOG = """\
Without --base-url, the embedded server runs in this process on the default SQLite store (see
`totpflow serve --help` for where it lives) and enrolls into the store's project, the one `totpflow serve`
serves: the only one, or --project-id when there are several. When the store has none, enroll creates it
and prints its id and secret once (`totpflow project list` and `totpflow project reset-secret ID` later).
With --base-url, enroll against a running `totpflow serve` or Stytch itself, with that project's
--project-id and --secret (or TOTPFLOW_PROJECT_ID / TOTPFLOW_PROJECT_SECRET).

Exit codes: 0 enrolled, 1 enrollment failed, 2 bad command line.
"""


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "enroll",
        help="enroll an authenticator app (create user, TOTP, confirm the first code)",
        description="Enroll an authenticator app: create the user, show the QR code, confirm the first code "
        "and mint a session, by running arazzo/totp-enrollment.arazzo.yaml.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--email", required=True, help="the email address of the user to enroll")
    parser.add_argument(
        "--session-minutes",
        type=int,
        default=60,
        metavar="N",
        help="lifetime of the session minted (5–527040)",
    )
    parser.add_argument("--unattended", action="store_true", help="compute the first code from the secret")
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    parser.add_argument(
        "--restart",
        action="store_true",
        help="if an earlier enrollment of this email was never confirmed, delete that user and start over",
    )
    parser.add_argument("--base-url", metavar="URL", help="a running server instead of the embedded one")
    parser.add_argument(
        "--project-id", metavar="ID", help="the project (required with --base-url; else the store's only one)"
    )
    parser.add_argument("--secret", metavar="SECRET", help="project secret for --base-url")
    parser.add_argument(
        "--database-url", metavar="URL", help="store of the embedded server (default: SQLite)"
    )
    parser.add_argument("--master-key-file", metavar="PATH", help=MASTER_KEY_FILE_HELP)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import os

    from totpflow.arazzo.errors import UsageError
    from totpflow.enroll import EnrollError, ProjectNotChosen, Target, embedded_server, enroll

    project: dict[str, str] = {}  # projectId, and projectSecret when this run created the project

    def refuse(message: str) -> int:
        """Bad input (exit code 2): the message on stderr and, with ``--json``, as the one JSON object."""
        if args.json:
            print(json.dumps({"ok": False, "error": message, **project}))
        print(f"totpflow enroll: {printable(message)}", file=sys.stderr)
        return 2

    if not 5 <= args.session_minutes <= 527040:
        return refuse("--session-minutes must be between 5 and 527040")
    if not args.base_url:  # the embedded server's rule, checked before a project is made for this run
        from totpflow.server import errors
        from totpflow.server.services import validation

        try:
            validation.email(args.email)
        except errors.InvalidEmail:
            return refuse(f"--email {args.email!r} is not a valid email address")
    if args.secret and not args.base_url:
        # the embedded server's project is the store's; its secret is never given on the command line
        return refuse(
            "--secret is the project secret for --base-url; without --base-url the embedded server serves "
            "the store's project (TOTPFLOW_PROJECT_SECRET, with TOTPFLOW_PROJECT_ID, makes sure of one)"
        )
    interactive = not args.unattended
    if interactive and not sys.stdin.isatty():
        return refuse("stdin is not a terminal; use --unattended to compute the code")
    out = sys.stderr if args.json else sys.stdout
    reader = _terminal_reader(out) if interactive else None
    try:
        if args.base_url:
            project_id = args.project_id or os.environ.get("TOTPFLOW_PROJECT_ID")
            secret = args.secret or os.environ.get("TOTPFLOW_PROJECT_SECRET")
            if not project_id or not secret:
                return refuse("--base-url needs --project-id and --secret")
            project["projectId"] = project_id
            result = enroll(
                Target(args.base_url, project_id, secret),
                args.email,
                read_code=reader,
                session_minutes=args.session_minutes,
                restart=args.restart,
            )
        else:
            with embedded_server(
                args.database_url, project_id=args.project_id, master_key_file=args.master_key_file
            ) as embedded:
                project["projectId"] = embedded.target.project_id
                if embedded.created_secret is not None:
                    project["projectSecret"] = embedded.created_secret
                try:
                    result = enroll(
                        embedded.target,
                        args.email,
                        read_code=reader,
                        session_minutes=args.session_minutes,
                        restart=args.restart,
                    )
                finally:
                    # shown last, however the enrollment ends (the QR code above would have scrolled it
                    # out of an 80x24 terminal): the project exists now, and this is its one showing
                    if embedded.created_secret is not None and not args.json:
                        _show_new_project(embedded.target.project_id, embedded.created_secret)
    except ProjectNotChosen as exc:
        return refuse(str(exc))
    except UsageError as exc:  # --base-url not an http(s) URL, …: nothing was sent
        return refuse(str(exc))
    except EnrollError as exc:
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc), **project}))
        print(f"totpflow enroll: {printable(exc)}", file=sys.stderr)
        return 1
    except _config_errors() as exc:
        return refuse(str(exc))
    if args.json:
        print(json.dumps({"ok": True, **project, **result.as_json(with_totp_secret=args.unattended)}))
        return 0
    print(f"\nEnrolled {args.email}{' (finished the pending registration)' if result.resumed else ''}.")
    print(f"  project id     {project['projectId']}")
    print(f"  user id        {printable(result.user_id)}")  # the server's answers: shown, never obeyed
    print(f"  TOTP id        {printable(result.totp_id)}")
    print(f"  session token  {printable(result.session_token)}")
    if args.unattended and result.totp_secret:
        print(f"  TOTP secret    {printable(result.totp_secret)}  (for an authenticator app; keep it secret)")
    if result.recovery_codes:
        print("\nRecovery codes (each works once, if the phone is lost). Shown only now: store them safely.")
        for code in result.recovery_codes:
            print(f"  {printable(code)}")
    return 0


def _show_new_project(project_id: str, secret: str) -> None:
    """The credentials of the project this run created on the store: the only time its secret is shown."""
    print(f"\nCreated project {project_id} on this store (`totpflow serve` serves it too).")
    print(f"Project secret (shown only now; `totpflow project reset-secret` gives a new one): {secret}")


def _config_errors() -> tuple[type[Exception], ...]:
    from totpflow.server.errors import ConfigError

    return (ConfigError,)


_PROMPT = "Enter the 6-digit code the app shows: "


def _terminal_reader(out: Any) -> Any:
    def read(request: CodeRequest) -> str:
        from totpflow import qrterm

        if request.qr_text:  # the code, the key and the prompt fit the terminal (else the key alone)
            size = qrterm.terminal_size(out)
            prompt_rows = qrterm.screen_rows([_PROMPT + "123456"], size[0])  # with the code typed
            print(qrterm.scan_screen(request.qr_text, size, reserved_lines=prompt_rows), file=out)
        if request.message:  # the server's words: shown, never obeyed
            print(printable(request.message), file=out)
        print(_PROMPT, end="", file=out, flush=True)
        from totpflow.cli._line_input import read_line

        line = read_line(sys.stdin)
        if not line:
            raise KeyboardInterrupt
        return line.strip()

    return read
