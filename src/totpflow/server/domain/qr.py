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

The data mask is the one with the lowest ISO/IEC 18004 §7.8.3 penalty (the first of equals), as the
standard asks of an encoder: a fixed mask would scan less reliably for some secrets. zxing-cpp makes the
same choice, but its search over the eight masks is most of its encoding time, so it is done here instead
(see ``_penalty``): zxing-cpp encodes the symbol once with mask 0, and each other mask's symbol is that one
XOR a pattern that depends only on the symbol's size (the mask over the data modules and the format
information that names the mask). Those patterns are learnt once per size from zxing-cpp itself.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import zxingcpp

SIZE = 200
QUIET_ZONE = 4
DATA_URI_PREFIX = "data:image/png;base64, "  # Stytch puts a space after the comma (stytch-api.md §4.4)
_BIT_DEPTH = 2
_WHITE = 3  # the largest 2-bit sample
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


@dataclass(frozen=True, slots=True)
class Symbol:
    """A QR code's modules, row by row, as ASCII ``1`` (dark) and ``0`` (light), without quiet zone."""

    size: int  # modules per side
    mask: int  # the data mask pattern reference, 0-7 (ISO/IEC 18004 Table 10)
    penalties: tuple[int, ...]  # the §7.8.3 penalty score of each of the eight masks
    modules: bytes


@dataclass(frozen=True, slots=True)
class _Layout:
    """Bit masks over one symbol size with a ``QUIET_ZONE``-wide light border, cell ``k`` of the bordered
    grid (row-major) at bit ``cells - 1 - k``: so ``bits << d`` holds, at cell ``k``, cell ``k + d``."""

    side: int  # cells per side of the bordered grid
    size: int  # modules per side of the symbol
    grid: int  # every cell
    across: int  # modules whose right neighbour is a module
    down: int  # modules whose lower neighbour is a module
    flips: tuple[int, ...]  # symbol with mask m = symbol with mask 0 XOR flips[m]


_LAYOUTS: dict[int, _Layout] = {}
_TO_BITS = bytes.maketrans(b"\x00\xff", b"10")  # zxing-cpp's pixels: 0x00 dark, 0xff light
_BITS_TO_SAMPLES = bytes.maketrans(b"10", bytes([0, _WHITE]))


def _encode(text: str, mask: int) -> bytes:
    """zxing-cpp's symbol of ``text`` with data mask ``mask``, one byte per module, with the quiet zone."""
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M", data_mask=mask)
    # zxing-cpp's Image implements the buffer protocol (one byte per pixel) but its stub does not say so.
    return memoryview(barcode.to_image(scale=1, add_quiet_zones=True)).tobytes()  # type: ignore[arg-type]


def _layout(text: str, masked_0: int, side: int) -> _Layout:
    layout = _LAYOUTS.get(side)
    if layout is None:
        size = side - 2 * QUIET_ZONE
        inner = range(QUIET_ZONE, QUIET_ZONE + size)

        def cells(keep: Callable[[int, int], bool]) -> int:
            return int("".join("1" if keep(r, c) else "0" for r in range(side) for c in range(side)), 2)

        last = QUIET_ZONE + size - 1
        flips = tuple(masked_0 ^ int(_encode(text, mask).translate(_TO_BITS), 2) for mask in range(8))
        layout = _Layout(
            side=side,
            size=size,
            grid=(1 << side * side) - 1,
            across=cells(lambda r, c: r in inner and c in inner and c < last),
            down=cells(lambda r, c: r in inner and c in inner and r < last),
            flips=flips,
        )
        _LAYOUTS[side] = layout
    return layout


def _penalty(bits: int, layout: _Layout) -> int:
    """The ISO/IEC 18004 §7.8.3 (Table 11) penalty of one masked symbol, all four rules in both directions,
    each evaluated for every module at once with bitwise operations on the bordered grid:

    1. each run of ``5 + i`` same-coloured modules in a row or column scores ``3 + i``;
    2. each 2×2 block of one colour scores 3;
    3. each dark-light-dark-dark-dark-light-dark (1:1:3:1:1) pattern in a row or column with four light
       modules before or after it (the quiet zone is light) scores 40, once even when both sides are light;
    4. a dark share of 50 ± (5k … 5k + 5) % scores 10k.
    """
    light = layout.grid ^ bits
    side = layout.side
    right, below = bits << 1, bits << side  # at k: module k + 1, module k + side
    same_across = layout.across & ~(bits ^ right)  # at k: module k + 1 has k's colour
    same_down = layout.down & ~(bits ^ below)  # at k: module k + side has k's colour
    score = 3 * (same_across & same_down & (same_across << side)).bit_count()
    for step, same, after in ((1, same_across, right), (side, same_down, below)):
        pairs = same & (same << step)  # k … k + 2 one colour
        runs = pairs & (pairs << 2 * step)  # k … k + 4 one colour
        score += runs.bit_count() + 2 * (runs & ~(same >> step)).bit_count()  # run of 5 + i: 1 + i, +2
        two_light = light & (light << step)
        four_light = two_light & (two_light << 2 * step)
        three_dark = bits & after & (bits << 2 * step)
        finder = (
            bits & (bits << 6 * step) & (three_dark << 2 * step) & ((light & (light << 4 * step)) << step)
        )
        score += 40 * (finder & ((four_light >> 4 * step) | (four_light << 7 * step))).bit_count()
    modules = layout.size * layout.size
    return score + abs(2 * bits.bit_count() - modules) * 10 // modules * 10


def encode(text: str) -> Symbol:
    """``text`` as a QR code (error correction level M) with the lowest-penalty data mask."""
    image = _encode(text, 0)
    side = math.isqrt(len(image))
    masked_0 = int(image.translate(_TO_BITS), 2)
    layout = _layout(text, masked_0, side)
    penalties = tuple(_penalty(masked_0 ^ flip, layout) for flip in layout.flips)
    mask = penalties.index(min(penalties))
    grid = format(masked_0 ^ layout.flips[mask], f"0{side * side}b").encode("ascii")
    size = layout.size
    first = QUIET_ZONE * side + QUIET_ZONE
    modules = b"".join([grid[first + y * side : first + y * side + size] for y in range(size)])
    return Symbol(size=size, mask=mask, penalties=penalties, modules=modules)


def qr_png(text: str, *, size: int = SIZE) -> bytes:
    """A ``size``×``size`` grayscale PNG of ``text`` as a QR code (error correction level M)."""
    symbol = encode(text)
    modules = symbol.size
    scale = max(1, size // (modules + 2 * QUIET_ZONE))
    width = modules * scale
    side = max(size, width + 2 * QUIET_ZONE * scale)
    left = (side - width) // 2
    top = left
    stride = -(-side // 4) * 4  # samples per row, rounded up to whole bytes of four 2-bit samples
    # One 8-bit sample per pixel, each module repeated `scale` times along its row.
    samples = symbol.modules.translate(_BITS_TO_SAMPLES)
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
