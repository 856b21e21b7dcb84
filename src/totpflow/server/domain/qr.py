"""otpauth:// provisioning URIs and their QR codes as PNG data URIs.

The URI follows Google Authenticator's Key-Uri-Format
(https://github.com/google/google-authenticator/wiki/Key-Uri-Format): the label is ``Issuer:account``
with both parts percent-encoded, and the ``issuer`` parameter repeats the issuer. The QR code is encoded
by zxing-cpp and written as a 2-bit grayscale PNG (PNG spec §11.2.2 IHDR, colour type 0, bit depth 2:
samples 0 and 3, i.e. black and white) of exactly ``SIZE``×``SIZE`` pixels, the size of Stytch's own
images, with at least the 4-module quiet zone ISO/IEC 18004 §6.3.8 requires. Writing the PNG by hand from
zxing-cpp's module matrix avoids an imaging library on the request path. Bit depth 2 rather than 1 keeps
the image an ordinary 8-bit-per-pixel greyscale ("L") image for readers such as Pillow, with a quarter of
the bytes of depth 8 to build and deflate; the pixels are the same as at depth 8.

zxing-cpp chooses the data mask with the lowest ISO/IEC 18004 §7.8.3 penalty, as the standard requires of an
encoder; that search is most of the encoder's time (≈ 0.56 of 0.62 ms here), and a fixed mask would scan
less reliably for some secrets.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from urllib.parse import quote

import zxingcpp

SIZE = 200
QUIET_ZONE = 4
DATA_URI_PREFIX = "data:image/png;base64, "  # Stytch puts a space after the comma (stytch-api.md §4.4)
_BIT_DEPTH = 2
_WHITE = 3  # the largest 2-bit sample
_TO_SAMPLES = bytes.maketrans(b"\xff", bytes([_WHITE]))  # zxing-cpp's pixels 0x00/0xff → samples 0/3
# Multiplying a big-endian run of 8-bit samples (each 0..3) by this moves the four samples of every 4-byte
# word into that word's top byte as one 2-bit-per-pixel byte: sample i of the word (at bit 24 - 8i) lands
# at bit 30 - 2i. No two shifted 2-bit fields overlap, within a word or with the next word, so no carries.
_PACK_4_TO_1 = (1 << 6) | (1 << 12) | (1 << 18) | (1 << 24)


def otpauth_uri(*, issuer: str, account: str, secret: str, digits: int = 6, period: int = 30) -> str:
    """``otpauth://totp/{Issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30``."""
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    return (
        f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer, safe='')}"
        f"&algorithm=SHA1&digits={digits}&period={period}"
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _deflate(data: bytes) -> bytes:
    """zlib at level 1 with an 8 KiB window and a small hash table: ~10 KB of pixels compress about as well
    as with the defaults (a window of 32 KiB, a hash table of 64 KiB), in half the time, most of which went
    to setting up and clearing those tables."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 13, 4)
    return compressor.compress(data) + compressor.flush()


def qr_png(text: str, *, size: int = SIZE) -> bytes:
    """A ``size``×``size`` grayscale PNG of ``text`` as a QR code (error correction level M)."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    # zxing-cpp's Image implements the buffer protocol (one byte per pixel) but its stub does not say so.
    matrix = memoryview(barcode.to_image(scale=1, add_quiet_zones=False)).tobytes()  # type: ignore[arg-type]
    modules = math.isqrt(len(matrix))
    scale = max(1, size // (modules + 2 * QUIET_ZONE))
    width = modules * scale
    side = max(size, width + 2 * QUIET_ZONE * scale)
    left = (side - width) // 2
    top = left
    stride = -(-side // 4) * 4  # samples per row, rounded up to whole bytes of four 2-bit samples
    # One 8-bit sample per pixel, each module repeated `scale` times along its row.
    samples = matrix.translate(_TO_SAMPLES)
    if scale > 1:
        wide = bytearray(len(samples) * scale)
        for offset in range(scale):
            wide[offset::scale] = samples
        samples = bytes(wide)
    left_pad = bytes([_WHITE]) * left
    right_pad = bytes([_WHITE]) * (stride - width - left)  # right quiet zone and the last byte's padding
    unpacked = b"".join([left_pad + samples[y * width : (y + 1) * width] + right_pad for y in range(modules)])
    count = len(unpacked)  # a multiple of 4
    packed = (int.from_bytes(unpacked, "big") * _PACK_4_TO_1).to_bytes(count + 4, "big")[4::4]
    row_bytes = stride // 4
    white_row = b"\x00" + b"\xff" * row_bytes  # filter byte 0 (None) + white pixels
    rows = [white_row * top]
    rows.extend((b"\x00" + packed[y * row_bytes : (y + 1) * row_bytes]) * scale for y in range(modules))
    rows.append(white_row * (side - width - top))
    header = struct.pack(">IIBBBBB", side, side, _BIT_DEPTH, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", _deflate(b"".join(rows)))
        + _chunk(b"IEND", b"")
    )


def qr_data_uri(text: str) -> str:
    """``"data:image/png;base64, <png>"`` — the shape of Stytch's ``qr_code`` field."""
    return DATA_URI_PREFIX + base64.b64encode(qr_png(text)).decode("ascii")
