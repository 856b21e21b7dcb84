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
    if qr_lines(screen):
        assert all(len(line) <= columns for line in lines)
        drawn = scan(screen)
        assert drawn == qrterm.compact_otpauth(uri)
        assert pyotp.parse_uri(drawn).now() == pyotp.parse_uri(uri).now()  # the same account in an app
    else:
        assert f"  key      {qrterm.group_key(SECRET)}" in lines
        assert f"  or open  {uri}" in lines


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
