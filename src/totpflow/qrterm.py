"""QR codes drawn in a terminal, so an authenticator app can scan the code a server just returned.

Each text line holds two rows of modules using the Unicode half blocks ``▀ ▄ █``, like ``qrencode -t UTF8``:
light modules (and the quiet zone) are drawn as blocks, dark modules as spaces, which reads correctly on the
usual dark-background terminal. A terminal cell is about twice as tall as it is wide, so a module is a square.

The drawing is as small as a scannable code allows, so that it fits an 80×24 terminal with the prompt:

* error correction level L: the terminal shows the code without damage, so the larger levels buy nothing;
* an ``otpauth://`` URI is drawn without the parameters that only repeat the Key-Uri-Format defaults
  (``algorithm=SHA1``, ``digits=6``, ``period=30``): the same account in an authenticator app;
* the quiet zone is the 4 modules ISO/IEC 18004 §6.3.8 requires — no more, since the terminal around it is
  dark and a scanner needs that light margin to find the code;
* the instructions and the key go beside the code when the terminal is wide enough, else below it when there
  are lines to spare.

When the terminal is too small for the code with its key (``scan_screen``), the key is shown for typing
instead, in groups of four characters, with the ``otpauth://`` URI; in a terminal too small even for that, the
lines least needed are left out, never the key. A person who cannot scan the code always sees the key.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import sys
import unicodedata
from typing import IO
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from totpflow.arazzo.printable import printable

QUIET_ZONE = 4  # modules, ISO/IEC 18004 §6.3.8
_BLOCKS = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
_DEFAULTS = {"algorithm": "SHA1", "digits": "6", "period": "30"}  # Key-Uri-Format defaults
_GAP = "  "  # between the code and the text beside it
DEFAULT_SIZE = (80, 24)


def qr_matrix(text: str, *, quiet_zone: int = QUIET_ZONE) -> list[list[bool]]:
    """The QR code of ``text`` (error correction level L) as rows of booleans (True = dark), with a quiet
    zone of ``quiet_zone`` light modules on every side."""
    import zxingcpp

    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="L")
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    side = image.shape[0]
    pixels = memoryview(image).tobytes()  # type: ignore[arg-type]  # one byte per module, 0 = dark
    margin = [False] * (side + 2 * quiet_zone)
    rows = [list(margin) for _ in range(quiet_zone)]
    for y in range(side):
        row = [pixels[y * side + x] < 128 for x in range(side)]
        rows.append([False] * quiet_zone + row + [False] * quiet_zone)
    rows.extend(list(margin) for _ in range(quiet_zone))
    return rows


def render_lines(text: str) -> list[str]:
    """``text`` as a QR code in half-block characters, two module rows per line."""
    matrix = qr_matrix(text)
    if len(matrix) % 2:
        matrix.append([True] * len(matrix[0]))  # below the quiet zone: the terminal's own (dark) background
    return [
        "".join(_BLOCKS[(not a, not b)] for a, b in zip(top, bottom, strict=True))
        for top, bottom in zip(matrix[::2], matrix[1::2], strict=True)
    ]


def render(text: str) -> str:
    """``text`` as a QR code in half-block characters (two module rows per line)."""
    return "\n".join(render_lines(text))


def compact_otpauth(uri: str) -> str:
    """An ``otpauth://`` URI without the parameters that equal the Key-Uri-Format defaults (a shorter text is
    a smaller code); any other text unchanged."""
    if not uri.lower().startswith("otpauth://"):
        return uri
    parts = urlsplit(uri)
    fields = parts.query.split("&")
    kept = [field for field in fields if not _is_default(field)]  # the others keep their own encoding
    return uri if len(kept) == len(fields) else urlunsplit(parts._replace(query="&".join(kept)))


def _is_default(field: str) -> bool:
    name, _, value = (unquote(part) for part in field.partition("="))
    return _DEFAULTS.get(name.lower()) == value.upper()


def group_key(secret: str) -> str:
    """A base32 key in groups of four characters, as authenticator apps accept it typed."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _otpauth(uri: str) -> tuple[str, str, dict[str, str]] | None:
    """(account label, secret, parameters) of an ``otpauth://`` URI, as a terminal shows them (``printable``:
    a URI a server returned is shown, never obeyed); None for any other text."""
    if not uri.lower().startswith("otpauth://"):
        return None
    parts = urlsplit(uri)
    params = {name.lower(): value for name, value in parse_qsl(parts.query)}
    secret = params.get("secret", "")
    if not secret:
        return None
    shown = {name: printable(value) for name, value in params.items()}
    return printable(unquote(parts.path.lstrip("/"))), printable(secret.upper()), shown


def terminal_size(stream: IO[str] | None = None) -> tuple[int, int]:
    """(columns, lines) of the terminal ``stream`` (else stdin, stdout or stderr) is on; ``COLUMNS`` and
    ``LINES`` override, as with ``shutil.get_terminal_size``; 80×24 when no terminal is found."""
    size: tuple[int, int] | None = None
    for candidate in (stream, sys.stdin, sys.stdout, sys.stderr):
        try:
            measured = os.get_terminal_size(candidate.fileno())  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
            continue
        if measured.columns > 0 and measured.lines > 0:
            size = (measured.columns, measured.lines)
            break
    columns, lines = size or DEFAULT_SIZE
    return _env_int("COLUMNS", columns), _env_int("LINES", lines)


def _env_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def scan_screen(text: str, size: tuple[int, int] = DEFAULT_SIZE, *, reserved_lines: int = 1) -> str:
    """What to show before asking for the code, fitting a ``size`` = (columns, lines) terminal with
    ``reserved_lines`` left for the prompt: the QR code of ``text`` (an ``otpauth://`` URI, usually) with what
    to do and the key beside it, else with the key below it; when neither fits, the key to type and the URI
    (``manual_entry``). The key is always on the screen: a person who cannot scan the code types it."""
    columns, lines = size
    drawing = render_lines(compact_otpauth(text))
    width, height = len(drawing[0]), len(drawing)
    account = _otpauth(text)
    side = _instructions(text)
    beside = (width + len(_GAP) + max(len(line) for line in side), height + reserved_lines)
    if account is None:  # no key to type: the code alone, or the text to open
        if width > columns or height + reserved_lines > lines:
            return "\n".join(manual_entry(text, size, needed=((width, height + reserved_lines),)))
        if beside[0] <= columns:
            return "\n".join(_beside(drawing, side))
        if height + reserved_lines + 1 <= lines:
            return "\n".join(["Scan this QR code with your authenticator app:", *drawing])
        return "\n".join(drawing)
    below = ["Scan this QR code, or type this key:", *_key_lines(account[1], width)]
    if beside[0] <= columns and beside[1] <= lines:
        return "\n".join(_beside(drawing, side))
    if width <= columns and height + len(below) + reserved_lines <= lines:
        return "\n".join([*drawing, *below])
    needed = (beside, (width, height + len(below) + reserved_lines))
    return "\n".join(manual_entry(text, size, needed=needed, reserved_lines=reserved_lines))


def _beside(drawing: list[str], side: list[str]) -> list[str]:
    """The code with the text ``side`` to its right, centred on it."""
    drawing = list(drawing)
    start = max(0, (len(drawing) - len(side)) // 2)
    for offset, line in enumerate(side[: len(drawing) - start]):
        drawing[start + offset] += _GAP + line if line else ""
    return drawing


def _instructions(text: str) -> list[str]:
    account = _otpauth(text)
    lines = ["Scan this QR code with", "your authenticator app."]
    if account is not None:
        lines += ["", "Or type this key:", *_key_lines(account[1], 19)]
    return lines


def _key_lines(secret: str, columns: int, indent: str = "") -> list[str]:
    """A base32 key in groups of four on as few lines as fit ``columns`` after ``indent`` (at least one group
    a line), the groups spread evenly over them."""
    groups = group_key(secret).split(" ")
    per_line = max(1, (columns - len(indent) + 1) // 5)
    per_line = -(-len(groups) // -(-len(groups) // per_line))  # the same number of lines, evened out
    return [indent + " ".join(groups[i : i + per_line]) for i in range(0, len(groups), per_line)]


def screen_rows(lines: list[str], columns: int) -> int:
    """How many terminal rows ``lines`` take in a terminal ``columns`` wide (long lines wrap; a wide East
    Asian character takes two cells)."""
    return sum(max(1, -(-_cells(line) // columns)) for line in lines)


def _cells(line: str) -> int:
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line
    )


def manual_entry(
    text: str,
    size: tuple[int, int],
    *,
    needed: tuple[tuple[int, int], ...],
    reserved_lines: int = 1,
) -> list[str]:
    """The lines that let a person add the account by hand when the QR code (with its key) does not fit: the
    key in groups of four, the kind of code, and the URI (for a device that opens ``otpauth://`` links). In a
    terminal too small for all of it, the least needed lines are left out (why, the URI, the account, the
    heading) so that the key and the kind of code stay on the screen with ``reserved_lines`` for the prompt;
    the key is shown even when nothing fits."""
    columns, lines = size
    sizes = " or ".join(f"{c}×{r}" for c, r in needed)
    what = "the QR code" if len(needed) == 1 else "the QR code with its key"
    head = f"This terminal ({columns}×{lines}) is too small for {what} (it needs {sizes})."
    account = _otpauth(text)
    text = printable(text)
    parts: list[tuple[int, list[str]]]  # (the order lines are left out in, lines); 0 never
    if account is None:
        parts = [(2, [head]), (1, ["Open this in your authenticator app:"]), (0, [f"  {text}"])]
    else:
        label, secret, params = account
        digits, period, algorithm = (
            params.get(name, _DEFAULTS[name]) for name in ("digits", "period", "algorithm")
        )
        kind = f"time-based, {digits} digits, every {period} s, {algorithm}"
        key = f"  key      {group_key(secret)}"
        key_lines = [key] if len(key) <= columns else ["  key", *_key_lines(secret, columns, "  ")]
        parts = [
            (5, [head]),
            (4, ["Add the account to your authenticator app by hand:"]),
            (3, [f"  account  {label}"]),
            (0, key_lines),
            (1, [f"  type     {kind}"]),
            (2, [f"  or open  {text}"]),
        ]
    for limit in range(max(rank for rank, _ in parts), 0, -1):
        shown = [line for rank, part in parts if rank <= limit for line in part]
        if screen_rows(shown, columns) + reserved_lines <= lines:
            return shown
    return [line for rank, part in parts if rank == 0 for line in part]


def decode_data_uri(data_uri: str) -> str | None:
    """The text of the QR code in a ``data:image/png;base64,…`` URI (Stytch's ``qr_code``), or None."""
    head, _, payload = data_uri.partition(",")
    if not head.startswith("data:image/") or ";base64" not in head:
        return None
    try:
        png = base64.b64decode(payload.strip(), validate=False)
    except (binascii.Error, ValueError):
        return None
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    barcode = zxingcpp.read_barcode(image.convert("L"))
    return barcode.text if barcode is not None and barcode.valid else None
