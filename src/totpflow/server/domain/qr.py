"""otpauth:// provisioning URIs and their QR codes as PNG data URIs.

The URI follows Google Authenticator's Key-Uri-Format
(https://github.com/google/google-authenticator/wiki/Key-Uri-Format): the label is ``Issuer:account``
with both parts percent-encoded, and the ``issuer`` parameter repeats the issuer. The QR code is encoded
by zxing-cpp and written as an 8-bit grayscale PNG (PNG spec §11.2.2 IHDR, colour type 0) of exactly
``SIZE``×``SIZE`` pixels, the size of Stytch's own images, with at least the 4-module quiet zone ISO/IEC
18004 §6.3.8 requires. Writing the PNG by hand from zxing-cpp's module matrix avoids an imaging library
on the request path.
"""

from __future__ import annotations

import base64
import struct
import zlib
from urllib.parse import quote

import zxingcpp

SIZE = 200
QUIET_ZONE = 4
DATA_URI_PREFIX = "data:image/png;base64, "  # Stytch puts a space after the comma (stytch-api.md §4.4)


def otpauth_uri(*, issuer: str, account: str, secret: str, digits: int = 6, period: int = 30) -> str:
    """``otpauth://totp/{Issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30``."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    return (
        f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"
        f"&algorithm=SHA1&digits={digits}&period={period}"
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(text: str, *, size: int = SIZE) -> bytes:
    """A ``size``×``size`` grayscale PNG of ``text`` as a QR code (error correction level M)."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    modules = barcode.to_image(scale=1, add_quiet_zones=False).shape[0]
    scale = max(1, size // (modules + 2 * QUIET_ZONE))
    # zxing-cpp's Image implements the buffer protocol (one byte per pixel) but its stub does not say so.
    image = memoryview(barcode.to_image(scale=scale, add_quiet_zones=False)).tobytes()  # type: ignore[arg-type]
    width = modules * scale
    side = max(size, width + 2 * QUIET_ZONE * scale)
    left = (side - width) // 2
    top = left
    white_row = b"\x00" + b"\xff" * side  # filter byte 0 (None) + pixels
    left_pad = b"\x00" + b"\xff" * left
    right_pad = b"\xff" * (side - width - left)
    rows = [white_row] * top
    rows.extend(left_pad + image[y * width : (y + 1) * width] + right_pad for y in range(width))
    rows.extend([white_row] * (side - width - top))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 1))
        + _chunk(b"IEND", b"")
    )


def qr_data_uri(text: str) -> str:
    """``"data:image/png;base64, <png>"`` — the shape of Stytch's ``qr_code`` field."""
    return DATA_URI_PREFIX + base64.b64encode(qr_png(text)).decode("ascii")
