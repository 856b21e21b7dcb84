"""Micro-benchmarks of the costs on the enrollment path and of CLI start-up.

    .venv/bin/python bench/bench_micro.py [--smoke]

* QR: the server's ``totpflow.server.domain.qr.qr_png`` (zxing-cpp modules, PNG written by hand) against
  segno's PNG of the same otpauth URI (security.md §3.4: ~0.2 ms vs ~7 ms); the symbol alone, with the
  lowest-penalty data mask (ISO/IEC 18004 §7.8.3), chosen by ``qr.encode`` (one zxing-cpp encode with
  mask 0, the eight penalties scored with bitwise operations) against zxing-cpp's own search over the
  eight masks (``create_barcode`` + ``to_image``), and zxing-cpp's encode with one fixed mask (the floor:
  no search at all). These are timed interleaved, batch by batch, so machine load hits each alike.
* RS256 signing of a Stytch-shaped session JWT with PyJWT (RFC 7518 §3.3), with ES256 for reference, and RS256
  verification; plus the one-off cost of loading the PEM private key (what a per-request key load would pay).
* JSON encoding of a typical ``POST /v1/totps/authenticate`` response: ``json.dumps`` against msgspec.
* The bookkeeping every request does besides its service call: the request log line (JSON, written to
  ``/dev/null``, and its parts: the timestamp, the record, the handler), counting it in the metrics, a new
  ``<kind>-test-<uuid4>`` id (a flow makes about 17: its request ids, the user, TOTP, session and the ten
  recovery codes) and a response timestamp. Each is a few microseconds against a flow's milliseconds.
* CLI import time: ``python -X importtime -m totpflow run --help`` (median wall time of whole runs, and the
  heaviest imports by cumulative time from one importtime trace).

Each figure is the best of several batches (noise from other processes only ever adds time). Results go to
``bench/results/micro.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import servers

URI = (
    "otpauth://totp/totpflow:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    "&issuer=totpflow&algorithm=SHA1&digits=6&period=30"
)


def best_us(action: Callable[[], object], number: int, repeats: int) -> float:
    """Best mean microseconds per call over ``repeats`` batches of ``number`` calls."""
    best = float("inf")
    for _ in range(repeats):
        begin = time.perf_counter()
        for _ in range(number):
            action()
        best = min(best, (time.perf_counter() - begin) / number)
    return round(best * 1e6, 2)


def best_us_interleaved(
    actions: dict[str, Callable[[], object]], number: int, repeats: int
) -> dict[str, float]:
    """``best_us`` of each action, their batches taken in turn so that load changes affect all alike."""
    best = dict.fromkeys(actions, float("inf"))
    for _ in range(repeats):
        for name, action in actions.items():
            begin = time.perf_counter()
            for _ in range(number):
                action()
            best[name] = min(best[name], (time.perf_counter() - begin) / number)
    return {name: round(value * 1e6, 2) for name, value in best.items()}


def qr(number: int, repeats: int) -> dict[str, Any]:
    import io

    import segno
    import zxingcpp

    from totpflow.server.domain.qr import encode, qr_png

    def with_segno() -> bytes:
        out = io.BytesIO()
        segno.make(URI, error="m", micro=False).save(out, kind="png", scale=5, border=4)
        return out.getvalue()

    def zxing_search() -> object:  # zxing-cpp's own search over the eight masks
        barcode = zxingcpp.create_barcode(URI, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
        return barcode.to_image(scale=1, add_quiet_zones=True)

    def zxing_fixed_mask() -> object:  # no search at all
        barcode = zxingcpp.create_barcode(URI, zxingcpp.BarcodeFormat.QRCode, ec_level="M", data_mask=0)
        return barcode.to_image(scale=1, add_quiet_zones=True)

    timed = best_us_interleaved(
        {
            "zxing_cpp_qr_png_us": lambda: qr_png(URI),
            "symbol_ours_us": lambda: encode(URI),
            "symbol_zxing_cpp_search_us": zxing_search,
            "symbol_zxing_cpp_fixed_mask_us": zxing_fixed_mask,
        },
        number,
        repeats,
    )
    peer = best_us(with_segno, max(1, number // 10), repeats)
    ours = timed["zxing_cpp_qr_png_us"]
    return {
        **timed,
        "mask_search_ours_us": round(timed["symbol_ours_us"] - timed["symbol_zxing_cpp_fixed_mask_us"], 2),
        "mask_search_zxing_cpp_us": round(
            timed["symbol_zxing_cpp_search_us"] - timed["symbol_zxing_cpp_fixed_mask_us"], 2
        ),
        "segno_png_us": peer,
        "ratio_segno_over_ours": round(peer / ours, 1),
    }


def jwt_signing(number: int, repeats: int) -> dict[str, Any]:
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {
        "sub": "user-test-1",
        "iss": "stytch.com/project-test-1",
        "aud": ["project-test-1"],
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "https://stytch.com/session": {"id": "session-test-1", "authentication_factors": [{"type": "totp"}]},
    }
    token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "k1"})
    public = rsa_key.public_key()
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        "rs256_sign_us": best_us(
            lambda: jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "k1"}), number, repeats
        ),
        "es256_sign_us": best_us(lambda: jwt.encode(claims, ec_key, algorithm="ES256"), number, repeats),
        "rs256_verify_us": best_us(
            lambda: jwt.decode(token, public, algorithms=["RS256"], audience="project-test-1"),
            number,
            repeats,
        ),
        "rsa2048_pem_load_us": best_us(
            lambda: serialization.load_pem_private_key(pem, password=None), max(1, number // 10), repeats
        ),
    }


def json_encoding(number: int, repeats: int) -> dict[str, Any]:
    import msgspec

    body = {
        "request_id": "request-id-test-0b8d3c3e-1f1c-4b8c-9a51-2d4c5c6e7f80",
        "status_code": 200,
        "user_id": "user-test-16d9ba61-97a1-4ba4-9720-b03761dc50c6",
        "session_token": "mZAYn5aLEqKUlZ_Ad9U_fWr38GaAQ1oFAhT8ds245v7Q",
        "session_jwt": "eyJ" + "x" * 900,
        "session": {
            "session_id": "session-test-fe6c042b-6286-479f-8a4f-b046a6c46509",
            "user_id": "user-test-16d9ba61-97a1-4ba4-9720-b03761dc50c6",
            "started_at": "2026-11-26T14:00:00Z",
            "last_accessed_at": "2026-11-26T14:00:00Z",
            "expires_at": "2026-11-26T15:00:00Z",
            "attributes": {"ip_address": "", "user_agent": ""},
            "authentication_factors": [
                {"type": "totp", "delivery_method": "authenticator_app", "last_authenticated_at": "x"}
            ],
            "custom_claims": {},
            "roles": ["stytch_user"],
        },
        "user": {"user_id": "user-test-1", "emails": [{"email": "ada@example.com", "verified": False}]},
    }
    ours = best_us(lambda: msgspec.json.encode(body), number, repeats)
    stdlib = best_us(lambda: json.dumps(body).encode(), number, repeats)
    return {
        "msgspec_encode_us": ours,
        "json_dumps_us": stdlib,
        "ratio_json_over_msgspec": round(stdlib / ours, 1),
    }


def request_bookkeeping(number: int, repeats: int) -> dict[str, Any]:
    import logging
    import os
    from datetime import UTC, datetime

    from totpflow.server.domain import ids
    from totpflow.server.http import access_log, metrics, responses

    access_log.configure("json")
    logger = logging.getLogger(access_log.LOGGER_NAME)
    handler = logger.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    with open(os.devnull, "w") as devnull:
        handler.setStream(devnull)
        fields = {
            "request_id": ids.user_id().replace("user", "request-id", 1),
            "method": "POST",
            "route": "/v1/totps/authenticate",
            "status": 200,
            "latency_ms": 4.321,
            "project_id": ids.project_id(),
        }
        record = logger.makeRecord(
            logger.name, logging.INFO, __file__, 0, "request", (), None, extra={"access": fields}
        )
        now = datetime.now(UTC)
        return {
            "log_line_us": best_us(lambda: logger.info("request", extra={"access": fields}), number, repeats),
            "log_timestamp_us": best_us(lambda: access_log._timestamp(record), number, repeats),
            "log_record_us": best_us(
                lambda: logger.makeRecord(
                    logger.name, logging.INFO, __file__, 0, "request", (), None, extra={"access": fields}
                ),
                number,
                repeats,
            ),
            "log_handler_us": best_us(lambda: logger.handle(record), number, repeats),
            "metrics_observe_us": best_us(
                lambda: metrics.observe("POST", "/v1/totps/authenticate", 200, None, 0.004), number, repeats
            ),
            "new_id_us": best_us(ids.user_id, number, repeats),
            "response_timestamp_us": best_us(lambda: responses.timestamp(now), number, repeats),
        }


def import_time(runs: int) -> dict[str, Any]:
    argv = [sys.executable, "-X", "importtime", "-m", "totpflow", "run", "--help"]
    walls = []
    trace = ""
    for _ in range(runs):
        begin = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
        walls.append(time.perf_counter() - begin)
        trace = done.stderr
    rows = []
    for line in trace.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|")
        rows.append((int(cumulative_us), int(self_us), name[1:].rstrip()))
    top_level = [row for row in rows if not row[2].startswith(" ")]
    heaviest = sorted(rows, reverse=True)[:15]
    bare = []
    for _ in range(runs):
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - begin)
    return {
        "median_wall_ms": round(statistics.median(walls) * 1000, 1),
        "bare_python_median_wall_ms": round(statistics.median(bare) * 1000, 1),
        "total_import_ms": round(sum(r[0] for r in top_level) / 1000, 1),
        "heaviest_cumulative": [
            {"module": n.strip(), "cumulative_ms": round(c / 1000, 1)} for c, _, n in heaviest
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny batches")
    parser.add_argument("--output", type=Path, default=servers.RESULTS / "micro.json")
    args = parser.parse_args()
    number, repeats, runs = (20, 2, 1) if args.smoke else (500, 7, 9)
    results: dict[str, Any] = {
        "machine": servers.machine(),
        "qr": qr(number, repeats),
        "jwt": jwt_signing(number, repeats),
        "json": json_encoding(number * 10, repeats),
        "request_bookkeeping": request_bookkeeping(number * 10, repeats),
        "cli_import": import_time(runs),
    }
    servers.write_results(args.output, results, show=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
