"""Enrollment in an ordinary terminal: the QR code and the prompt fit 80×24 and scan; a smaller terminal gets
the key to type. Checked by decoding what is drawn, as a phone camera would."""

from __future__ import annotations

import os
import re
import sys
import uuid

import pyotp
import pytest
from terminal import Terminal, qr_lines, scan

from totpflow import qrterm
from totpflow.testing import StytchServer

PROMPT = "Enter the 6-digit code"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _uri(account: str, issuer: str = "totpflow") -> str:
    from totpflow.server.domain.qr import otpauth_uri

    return otpauth_uri(issuer=issuer, account=account, secret=SECRET)


def _enroll_in(server: StytchServer, size: tuple[int, int]) -> tuple[Terminal, str]:
    email = f"enroll-{uuid.uuid4().hex[:12]}@example.com"
    argv = [sys.executable, "-m", "totpflow", "enroll", "--email", email, "--base-url", server.base_url,
            "--project-id", server.project_id, "--secret", server.secret]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm"}
    return Terminal(argv, env=env, size=size), email


def _screen_lines(screen: str) -> list[str]:
    return screen.replace("\r", "").split("\n")


_KEY_GROUPS = re.compile(r"(?:key\s+)?([A-Z2-7]{1,4}(?: [A-Z2-7]{1,4})*)")


def typed_key(screen: str) -> str:
    """The key a person would type off the screen: the lines (or the text beside the code) that hold only
    groups of base32 characters, after a "key" label or not, in order."""
    key = ""
    for line in _screen_lines(screen):
        drawn = _QR_PART.match(line)
        text = line[drawn.end() :] if drawn else line  # the text beside the code
        found = _KEY_GROUPS.fullmatch(text.strip())
        if found:
            key += found.group(1).replace(" ", "")
    return key


_QR_PART = re.compile("[█▀▄ ]*[█▀▄]")


def test_the_qr_code_and_the_prompt_fit_80x24_and_scan(totpflow_server: StytchServer) -> None:
    term, email = _enroll_in(totpflow_server, (80, 24))
    screen = term.read_until(rf"{PROMPT}[^\n]*$")
    lines = _screen_lines(screen)
    assert len(lines) <= 24, "\n".join(lines)  # nothing scrolled away: the whole prompt is on the screen
    assert all(len(line) <= 80 for line in lines)
    assert lines[-1].startswith(PROMPT)
    uri = scan(screen)
    assert uri.startswith("otpauth://totp/") and email.replace("@", "%40") in uri
    secret = re.search(r"secret=([A-Z2-7]+)", uri).group(1)  # type: ignore[union-attr]
    assert qrterm.group_key(secret)[:19] in screen  # the key to type is beside the code
    term.type(pyotp.TOTP(secret).now() + "\n")
    assert f"Enrolled {email}" in term.read_until(r"Recovery codes")
    assert term.close() == 0


def test_a_terminal_too_small_for_the_code_shows_the_key_to_type(totpflow_server: StytchServer) -> None:
    term, email = _enroll_in(totpflow_server, (80, 20))
    screen = term.read_until(rf"{PROMPT}[^\n]*$")
    assert qr_lines(screen) == []  # no code drawn, only text
    grouped = re.search(r"key\s+((?:[A-Z2-7]{4} )+[A-Z2-7]{1,4})\s", screen)
    assert grouped is not None, screen
    assert "otpauth://totp/" in screen
    secret = grouped.group(1).replace(" ", "")  # typed by hand, as the app takes it
    term.type(pyotp.TOTP(secret).now() + "\n")
    assert f"Enrolled {email}" in term.read_until(r"Recovery codes")
    assert term.close() == 0


def test_a_new_project_s_secret_is_on_the_screen_when_the_enrollment_ends(tmp_path: object) -> None:
    """On a store without a project, enroll makes one and shows its secret once: last, where an 80×24
    terminal still shows it after the QR code, the prompt and the recovery codes."""
    email = f"enroll-{uuid.uuid4().hex[:12]}@example.com"
    env = {
        k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES") and not k.startswith("TOTPFLOW_")
    }
    env |= {"TERM": "xterm", "TOTPFLOW_HOME": str(tmp_path)}
    term = Terminal([sys.executable, "-m", "totpflow", "enroll", "--email", email], env=env, size=(80, 24))
    screen = term.read_until(rf"{PROMPT}[^\n]*$")
    term.type(pyotp.TOTP(typed_key(screen)).now() + "\n")
    screen = term.read_until(
        r"Recovery codes[^\n]*\n(?:\r?\n?  [a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}\r?\n){10}"
    )
    assert term.close() == 0
    shown = _screen_lines(screen.rstrip("\r\n"))[-23:]  # what 80×24 shows above the shell's next prompt
    assert any(line.startswith("Project secret") and "secret-" in line for line in shown), "\n".join(shown)
    assert any(line.startswith(f"Enrolled {email}") for line in shown)


# The code fits but its key beside it does not: below it (60×40), or the key to type (60×24, 68×24); the key
# to type in a terminal narrower than its line (30×16), and the prompt on two lines (25×20).
KEY_SIZES = [(60, 24), (68, 24), (60, 40), (30, 16), (25, 20)]


@pytest.mark.parametrize("size", KEY_SIZES, ids=[f"{c}x{r}" for c, r in KEY_SIZES])
def test_the_key_is_on_the_screen_in_any_terminal(
    totpflow_server: StytchServer, size: tuple[int, int]
) -> None:
    columns, rows = size
    term, email = _enroll_in(totpflow_server, size)
    screen = term.read_until(rf"{PROMPT}[^\n]*$")
    lines = _screen_lines(screen)
    assert qrterm.screen_rows(lines, columns) + 1 <= rows, screen  # nothing scrolled away; the typed code
    secret = typed_key(screen)
    assert len(secret) >= 16, screen
    if qr_lines(screen):
        assert f"secret={secret}" in scan(screen)  # the key beside or below is the code's
    term.type(pyotp.TOTP(secret).now() + "\n")
    assert f"Enrolled {email}" in term.read_until(r"Recovery codes")
    assert term.close() == 0


ACCOUNTS = [
    pytest.param("enroll-0123456789ab@example.com", "totpflow", id="enroll-test-account"),
    pytest.param("ada@example.com", "Test Project", id="short"),
    pytest.param("a.very.long.name.of.someone@some-company-domain.example.org", "totpflow", id="long"),
]
SIZES = [(80, 24), (80, 25), (100, 40), (60, 30), (45, 24), (200, 60)]


@pytest.mark.parametrize("size", SIZES, ids=[f"{c}x{r}" for c, r in SIZES])
@pytest.mark.parametrize(("account", "issuer"), ACCOUNTS)
def test_what_is_drawn_fits_and_scans_or_gives_the_key(
    account: str, issuer: str, size: tuple[int, int]
) -> None:
    uri = _uri(account, issuer)
    columns, rows = size
    screen = qrterm.scan_screen(uri, size, reserved_lines=1)
    lines = screen.split("\n")
    on_screen = sum(-(-max(len(line), 1) // columns) for line in lines)  # rows, long lines wrapped
    assert on_screen + 1 <= rows  # with the prompt line
    assert typed_key(screen) == SECRET  # scanned or not, the key is there to type
    if qr_lines(screen):
        assert all(len(line) <= columns for line in lines)
        drawn = scan(screen)
        assert drawn == qrterm.compact_otpauth(uri)
        assert pyotp.parse_uri(drawn).now() == pyotp.parse_uri(uri).now()  # the same account in an app
    else:
        assert f"  or open  {uri}" in lines


@pytest.mark.parametrize("reserved", [1, 3])
@pytest.mark.parametrize(("account", "issuer"), ACCOUNTS)
def test_every_terminal_size_shows_the_key_and_fits(account: str, issuer: str, reserved: int) -> None:
    """Every terminal from 20×10 to 100×50: what is shown fits with ``reserved`` lines for the prompt, and the
    key is on it, beside or below an intact drawing of the code, or for typing (with the URI when there is
    room). A terminal where the code fits but its key beside it does not once showed the code alone."""
    uri = _uri(account, issuer)
    drawing = qrterm.render_lines(qrterm.compact_otpauth(uri))
    kinds = set()
    for columns in range(20, 101):
        for rows in range(10, 51):
            screen = qrterm.scan_screen(uri, (columns, rows), reserved_lines=reserved)
            lines = screen.split("\n")
            where = f"{columns}x{rows}:\n{screen}"
            assert qrterm.screen_rows(lines, columns) + reserved <= rows, where
            assert typed_key(screen) == SECRET, where
            if qr_lines(screen):
                assert all(len(line) <= columns for line in lines), where
                assert qr_lines(screen) == [line.rstrip() for line in drawing], where  # whole, unwrapped
                kinds.add("beside" if len(lines) == len(drawing) else "below")
            else:
                kinds.add("typed, with the URI" if f"  or open  {uri}" in lines else "typed")
    assert kinds == {"beside", "below", "typed, with the URI", "typed"}


@pytest.mark.parametrize("size", [(200, 60), (60, 24), (20, 10)], ids=["beside", "typed", "tiny"])
def test_controls_in_a_returned_uri_are_shown_as_escapes(size: tuple[int, int]) -> None:
    """A URI a server returned is shown, never obeyed: its account, key and parameters, and any other text."""
    uri = f"otpauth://totp/Evil:a%1B%5B2J%E2%80%AE?secret={SECRET}%1B%5D0%3Bx%07&digits=6%1B%5B8m"
    for text in (uri, "https://example.com/\x1b]0;pwned\x07"):
        screen = qrterm.scan_screen(text, size)
        assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e]", screen), repr(screen)
    assert "\\x1b" in qrterm.scan_screen(uri, size)


def test_the_seed_account_is_drawn_at_80x24() -> None:
    """The account the enrollment test uses gets the code, not the fallback, in a standard terminal."""
    screen = qrterm.scan_screen(_uri("enroll-0123456789ab@example.com"), (80, 24))
    assert len(qr_lines(screen)) == len(screen.split("\n")) <= 23


def test_the_quiet_zone_is_four_modules() -> None:
    lines = qr_lines(qrterm.scan_screen(_uri("ada@example.com"), (200, 60)))
    assert lines[0] == lines[1] == "█" * len(lines[0])  # 4 light module rows on top
    assert all(line.startswith("████") and line.endswith("████") for line in lines[:-1])


@pytest.mark.parametrize(
    ("uri", "compact"),
    [
        (
            "otpauth://totp/A:b%40c.d?secret=S&issuer=A&algorithm=SHA1&digits=6&period=30",
            "otpauth://totp/A:b%40c.d?secret=S&issuer=A",
        ),
        (
            "otpauth://totp/A:b?secret=S&issuer=My%20Co&algorithm=SHA256&digits=8&period=30",
            "otpauth://totp/A:b?secret=S&issuer=My%20Co&algorithm=SHA256&digits=8",
        ),
        ("otpauth://totp/A:b?secret=S", "otpauth://totp/A:b?secret=S"),
        ("https://example.com/?digits=6", "https://example.com/?digits=6"),
    ],
)
def test_only_default_parameters_are_left_out(uri: str, compact: str) -> None:
    assert qrterm.compact_otpauth(uri) == compact


@pytest.mark.parametrize(
    ("secret", "grouped"),
    [(SECRET, "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"), ("ABCDEFGHIJ", "ABCD EFGH IJ"), ("AB", "AB")],
)
def test_the_key_is_grouped_by_four(secret: str, grouped: str) -> None:
    assert qrterm.group_key(secret) == grouped
