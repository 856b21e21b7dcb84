"""A child process on a pseudo-terminal of a given size, and a phone camera for the QR codes it draws."""

from __future__ import annotations

import codecs
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import time

import zxingcpp
from PIL import Image

_QR_CHARACTERS = re.compile("[█▀▄ ]+")


def _signals_at_their_defaults() -> None:
    """In the child, before it runs: SIGINT and SIGQUIT at their default dispositions, as a terminal emulator
    starts a program. A test run from a background job of a shell without job control (which starts it with
    both ignored, and an ignored signal stays ignored across exec) would otherwise see Ctrl-C do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


class Terminal:
    """A child process on a pseudo-terminal: read what it draws, type into it. ``size`` = (columns, lines)
    is the window size the child sees (``TIOCSWINSZ``), as a terminal emulator sets it."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] | None = None) -> None:
        self.master, slave = pty.openpty()
        if size is not None:
            columns, lines = size
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            close_fds=True,
            preexec_fn=_signals_at_their_defaults,
        )
        os.close(slave)
        self.screen = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")  # chunks split characters

    def read_until(self, pattern: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.screen):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} never appeared; screen:\n{self.screen[-3000:]}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"{pattern!r} never appeared; screen:\n{self.screen[-3000:]}")
                self.screen += self._decoder.decode(chunk)
        return self.screen

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> int:
        try:
            return self.process.wait(timeout=60)
        finally:
            os.close(self.master)


def qr_lines(screen: str) -> list[str]:
    """The part of each screen line drawn with half blocks (text beside the code cut off); lines without a
    block are not part of the code."""
    lines = []
    for line in screen.replace("\r", "").split("\n"):
        drawn = _QR_CHARACTERS.match(line)
        if drawn and drawn.group().strip():
            lines.append(drawn.group().rstrip())
    return lines


def scan(screen: str) -> str:
    """Read the QR code drawn with half blocks off the screen, as a phone camera would: every character cell
    becomes two square modules, light where the terminal shows a block (the foreground of a dark terminal)."""
    lines = qr_lines(screen)
    assert lines, "no QR code on the screen"
    width = max(len(line) for line in lines)
    top = {"█": True, "▀": True, "▄": False, " ": False}
    bottom = {"█": True, "▄": True, "▀": False, " ": False}
    rows: list[list[bool]] = []
    for line in lines:
        line = line.ljust(width)
        rows.append([top[c] for c in line])
        rows.append([bottom[c] for c in line])
    scale = 4
    image = Image.new("L", (width * scale, len(rows) * scale))
    image.putdata(
        [
            255 if rows[y // scale][x // scale] else 0
            for y in range(len(rows) * scale)
            for x in range(width * scale)
        ]
    )
    barcode = zxingcpp.read_barcode(image)
    assert barcode is not None, "no QR code on the screen"
    return str(barcode.text)
