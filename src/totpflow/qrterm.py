"""QR codes drawn in a terminal, so an authenticator app can scan the code a server just returned.

Each text line holds two rows of modules using the Unicode half blocks ``▀ ▄ █``, like ``qrencode -t UTF8``:
light modules (and the 4-module quiet zone, ISO/IEC 18004 §6.3.8) are drawn as blocks, dark modules as
spaces, which reads correctly on the usual dark-background terminal.
"""

from __future__ import annotations

import base64
import binascii
import io

_BLOCKS = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}


def qr_matrix(text: str) -> list[list[bool]]:
    """The QR code of ``text`` as rows of booleans (True = dark), quiet zone included."""
    import zxingcpp

    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = barcode.to_image(scale=1, add_quiet_zones=True)
    side = image.shape[0]
    pixels = memoryview(image).tobytes()  # type: ignore[arg-type]  # one byte per module, 0 = dark
    return [[pixels[y * side + x] < 128 for x in range(side)] for y in range(side)]


def render(text: str) -> str:
    """``text`` as a QR code in half-block characters (two module rows per line)."""
    matrix = qr_matrix(text)
    if len(matrix) % 2:
        matrix.append([False] * len(matrix[0]))
    lines = []
    for top, bottom in zip(matrix[::2], matrix[1::2], strict=True):
        lines.append("".join(_BLOCKS[(not a, not b)] for a, b in zip(top, bottom, strict=True)))
    return "\n".join(lines)


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
