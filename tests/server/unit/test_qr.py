"""otpauth URI format (Google Key-Uri-Format) and the PNG QR code, decoded back with zxing-cpp."""

from __future__ import annotations

import base64
import io

import pytest
import zxingcpp
from PIL import Image

from totpflow.server.domain import qr


def test_otpauth_uri_is_percent_encoded() -> None:
    uri = qr.otpauth_uri(issuer="Acme Co", account="a+b@example.com", secret="JBSWY3DPEHPK3PXP")
    assert uri == (
        "otpauth://totp/Acme%20Co:a%2Bb%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Acme%20Co"
        "&algorithm=SHA1&digits=6&period=30"
    )


@pytest.mark.parametrize(
    ("issuer", "account"),
    [("totpflow", "user@example.com"), ("Ünïcode Äpp", "+15555550100"), ("a:b/c?d", "user-test-" + "x" * 36)],
)
def test_data_uri_png_decodes_back_to_the_uri(issuer: str, account: str) -> None:
    uri = qr.otpauth_uri(issuer=issuer, account=account, secret="BTGNX5RKJRMQWQFRQKTG34JCF6XDRHZS")
    data_uri = qr.qr_data_uri(uri)
    assert data_uri.startswith("data:image/png;base64, ")  # the space after the comma is Stytch's
    image = Image.open(io.BytesIO(base64.b64decode(data_uri.removeprefix("data:image/png;base64, "))))
    assert image.size == (qr.SIZE, qr.SIZE)
    assert image.mode == "L"
    result = zxingcpp.read_barcode(image)
    assert result is not None
    assert result.text == uri


def test_quiet_zone_is_white() -> None:
    png = qr.qr_png("otpauth://totp/x:y?secret=ABC")
    image = Image.open(io.BytesIO(png))
    border = [image.getpixel((x, 0)) for x in range(qr.SIZE)] + [
        image.getpixel((0, y)) for y in range(qr.SIZE)
    ]
    assert set(border) == {255}
