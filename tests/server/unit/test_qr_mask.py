"""The data mask ``qr.encode`` picks is the one a plain reading of ISO/IEC 18004 §7.8.3 picks.

For many otpauth URIs (symbol versions 3 to 20, so with and without version information), each of the
eight masked symbols is taken from zxing-cpp itself (``data_mask=m``) and scored by a straightforward
module-by-module implementation of the four penalty rules of Table 11; ``qr.encode`` must report the same
eight scores, choose the first lowest, and produce exactly zxing-cpp's symbol for that mask, which is also
the symbol zxing-cpp chooses by its own search. The PNG decodes back to the URI.
"""

from __future__ import annotations

import io
import itertools
import random
import string

import pytest
import zxingcpp
from PIL import Image

from totpflow.server.domain import qr

_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _uris() -> list[str]:
    rng = random.Random(18004)
    uris = []
    for index in range(96):
        length = 1 + index * 4  # account labels of 1 … 381 characters: versions 3 to 20
        account = "".join(rng.choice(string.ascii_letters + string.digits + "@.+-_ ") for _ in range(length))
        issuer = rng.choice(["totpflow", "Acme Co", "Ünïcode Äpp", "a:b/c?d"])
        secret = "".join(rng.choice(_BASE32) for _ in range(rng.choice([16, 32, 52])))
        uris.append(qr.otpauth_uri(issuer=issuer, account=account, secret=secret))
    return uris


def _zxing_symbol(text: str, mask: int | None) -> list[list[bool]]:
    options = {} if mask is None else {"data_mask": mask}
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M", **options)
    pixels = memoryview(barcode.to_image(scale=1, add_quiet_zones=False)).tobytes()  # type: ignore[arg-type]
    size = round(len(pixels) ** 0.5)
    return [[pixels[y * size + x] == 0 for x in range(size)] for y in range(size)]


def _reference_penalty(symbol: list[list[bool]]) -> int:
    """Table 11, module by module. Rule 3 counts a 1:1:3:1:1 pattern once when four light modules (or the
    light quiet zone past the symbol's edge) precede or follow it."""
    size = len(symbol)
    lines = symbol + [[symbol[y][x] for y in range(size)] for x in range(size)]  # rows, then columns
    score = 0
    for line in lines:  # rule 1: a run of 5 + i modules of one colour scores 3 + i
        run = 1
        for previous, module in itertools.pairwise(line):
            if module == previous:
                run += 1
                continue
            score += run - 2 if run >= 5 else 0
            run = 1
        score += run - 2 if run >= 5 else 0
    for y in range(size - 1):  # rule 2: a 2×2 block of one colour scores 3
        for x in range(size - 1):
            if symbol[y][x] == symbol[y][x + 1] == symbol[y + 1][x] == symbol[y + 1][x + 1]:
                score += 3
    finder = [True, False, True, True, True, False, True]
    for line in lines:  # rule 3: 1:1:3:1:1 with four light modules on one side scores 40
        for start in range(size - 6):
            if line[start : start + 7] != finder:
                continue
            before = line[max(0, start - 4) : start]
            after = line[start + 7 : start + 11]
            if not any(before) or not any(after):
                score += 40
    dark = sum(map(sum, symbol))  # rule 4: every full 5 % away from half dark scores 10
    percent = dark * 100 / (size * size)
    return score + int(abs(percent - 50) // 5) * 10


@pytest.mark.parametrize("uri", _uris())
def test_mask_is_the_lowest_iso_penalty(uri: str) -> None:
    symbol = qr.encode(uri)
    masked = [_zxing_symbol(uri, mask) for mask in range(8)]
    expected = tuple(_reference_penalty(candidate) for candidate in masked)
    assert symbol.penalties == expected
    assert symbol.mask == expected.index(min(expected))
    chosen = b"".join(b"1" if module else b"0" for row in masked[symbol.mask] for module in row)
    assert symbol.modules == chosen
    assert masked[symbol.mask] == _zxing_symbol(uri, None)  # zxing-cpp's own search agrees
    result = zxingcpp.read_barcode(Image.open(io.BytesIO(qr.qr_png(uri))))
    assert result is not None
    assert result.text == uri
