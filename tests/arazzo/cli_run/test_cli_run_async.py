"""``totpflow run`` with an AsyncAPI source on the real RabbitMQ (skipped, naming it, when it is not
reachable): ``--server`` names the broker, ``--auth SOURCE=user:password`` (or ``TOTPFLOW_AUTH_<SOURCE>``) its
credentials; the JSON report, JUnit, the terminal and the ``--messages`` file show every message, with the
password masked. Credentials are also checked against a NATS server and a Mosquitto broker each test starts
on a free loopback port with authentication on (skipped when the program is not installed)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "asyncapi"))
from broker_endpoints import require_broker
from run_process import totpflow

SHOP = str(Path(__file__).parents[1] / "engine" / "data" / "async" / "shop.arazzo.yaml")
PASSWORD = "guest"


def test_async_steps_on_rabbitmq_are_in_every_report(tmp_path: Path) -> None:
    require_broker("amqp")
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    report, junit, messages = tmp_path / "run.json", tmp_path / "run.xml", tmp_path / "messages.jsonl"
    done = totpflow(
        SHOP, "-w", "sendThenReceive", "--input", f"run={run}", "--input", f"requestId={request_id}",
        "--server", "shop=amqp://127.0.0.1:5672", "--auth", f"shop=guest:{PASSWORD}", "-v",
        "--json-output", str(report), "--junit", str(junit), "--messages", str(messages),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"receive ← amqp totpflow.{run}.orders" in done.stdout
    steps = json.loads(report.read_text())["workflows"][0]["steps"]
    seen = steps[2]["messages"][0]
    assert (seen["action"], seen["channel"], seen["protocol"]) == ("receive", "orders", "amqp")
    assert (seen["correlationId"], seen["payload"], seen["headers"]["x-shop"]) == (
        request_id,
        {"petId": 7},
        "north",
    )
    assert seen["server"] == "127.0.0.1:5672" and seen["timeMs"] >= 0 and seen["startedAt"]
    lines = [json.loads(line) for line in messages.read_text().splitlines()]
    assert [(m["stepId"], m["action"]) for m in lines] == [
        ("decoy", "send"),
        ("order", "send"),
        ("seen", "receive"),
    ]
    assert lines[0]["correlationId"] == "decoy-request"
    assert f"correlation id: {request_id}" in junit.read_text()
    for text in (done.stdout, done.stderr, report.read_text(), junit.read_text(), messages.read_text()):
        assert f"guest:{PASSWORD}" not in text


@pytest.mark.parametrize("userinfo", ["S3cretTok-9f8e7d@", "someone:S3cretTok-9f8e7d@"])
def test_credentials_in_the_server_url_are_masked_in_every_output(tmp_path: Path, userinfo: str) -> None:
    """A NATS token (a user alone) or a password in a ``--server`` broker URL is a secret, as ``--auth``'s
    are: masked wherever it shows (here the message also carries it)."""
    require_broker("nats")
    reports = {name: tmp_path / name for name in ("run.json", "run.xml", "messages.jsonl")}
    done = totpflow(SHOP, "-w", "sendThenReceive", "-v", "--input", f"run={uuid.uuid4().hex}",
                    "--input", "requestId=S3cretTok-9f8e7d",
                    "--server", f"shop=nats://{userinfo}127.0.0.1:4222",
                    "--json-output", str(reports["run.json"]), "--junit", str(reports["run.xml"]),
                    "--messages", str(reports["messages.jsonl"]))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    for text in [done.stdout + done.stderr, *(path.read_text(encoding="utf-8") for path in reports.values())]:
        assert "S3cretTok-9f8e7d" not in text


def test_a_binary_payload_is_masked_and_shown_whole_in_base64(tmp_path: Path) -> None:
    """A reply of bytes that are not UTF-8 text, quoting a secret input: every output masks the secret, and
    the reports show the payload in base64 (every other byte as it came), not as lossy text."""
    require_broker("nats")
    import asyncio
    import base64
    import threading

    from totpflow.arazzo.asyncapi import adapter_for, endpoint_from_url

    run, secret = uuid.uuid4().hex, f"S3cret-{uuid.uuid4().hex}"
    subscribed = threading.Event()

    async def shop() -> None:  # answers the order with bytes around the id it carries
        endpoint, _ = endpoint_from_url("nats://127.0.0.1:4222")
        adapter = adapter_for("nats")
        await adapter.connect(endpoint)
        orders = await adapter.subscribe(f"totpflow.{run}.orders")
        subscribed.set()
        try:
            order = await asyncio.wait_for(orders.get(), 30)
            reply = b"\xff\xfe" + order.headers["requestId"].encode() + b"\x80\x00"
            await adapter.publish(f"totpflow.{run}.confirmations", {}, reply)
        finally:
            await orders.close()
            await adapter.close()

    peer = threading.Thread(target=asyncio.run, args=(shop(),))
    peer.start()
    assert subscribed.wait(10)
    reports = {name: tmp_path / name for name in ("run.json", "run.xml", "messages.jsonl")}
    done = totpflow(SHOP, "-w", "aBinaryReply", "-v", "--input", f"run={run}",
                    "--input", f"requestId={secret}", "--secret-input", "requestId", "--server", "shop=nats://127.0.0.1:4222",
                    "--json-output", str(reports["run.json"]), "--junit", str(reports["run.xml"]),
                    "--messages", str(reports["messages.jsonl"]))  # fmt: skip
    peer.join(30)
    assert done.returncode == 0, done.stdout + done.stderr
    shown = base64.b64encode(b"\xff\xfe********\x80\x00").decode()
    for text in [done.stdout + done.stderr, *(path.read_text(encoding="utf-8") for path in reports.values())]:
        assert secret not in text
        assert shown in text
    (received,) = json.loads(reports["run.json"].read_text())["workflows"][0]["steps"][1]["messages"]
    assert (received["payload"], received["payloadEncoding"]) == (shown, "base64")


def test_a_receive_timeout_fails_the_run_with_exit_1(tmp_path: Path) -> None:
    require_broker("nats")
    run, report, junit = uuid.uuid4().hex, tmp_path / "report.json", tmp_path / "junit.xml"
    done = totpflow(SHOP, "-w", "nobodyAnswers", "--input", f"run={run}",
                    "--server", "shop=nats://127.0.0.1:4222",
                    "--json-output", str(report), "--junit", str(junit))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no message with correlation id 'never-sent'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    # the step line shows what it waited on, as other async steps show theirs
    assert f"receive ← nats totpflow.{run}.confirmations" in done.stdout
    (awaited,) = json.loads(report.read_text(encoding="utf-8"))["workflows"][0]["steps"][0]["messages"]
    assert (awaited["action"], awaited["channel"], awaited["correlationId"]) == (
        "receive", "confirmations", "never-sent",
    )  # fmt: skip
    assert (awaited["timedOut"], awaited["timeoutMs"], "payload" in awaited) == (True, 300, False)
    assert "correlation id: never-sent" in junit.read_text(encoding="utf-8")


@contextlib.contextmanager
def _mute_mqtt_broker(acknowledges_connect: bool) -> Iterator[int]:
    """A loopback port (yielded) that accepts MQTT connections and never acknowledges a subscription or a
    message: silent from the start, or acknowledging the connection (CONNACK) and answering pings only."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []

    def serve(connection: socket.socket) -> None:
        first = True
        with contextlib.suppress(OSError):
            while data := connection.recv(4096):
                if first and acknowledges_connect:
                    connection.sendall(bytes([0x20, 3, 0, 0, 0]))  # CONNACK, MQTT 5, no properties
                elif data[0] == 0xC0:
                    connection.sendall(bytes([0xD0, 0]))  # PINGRESP
                first = False

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection = listener.accept()[0]
                accepted.append(connection)
                threading.Thread(target=serve, args=(connection,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)
        for connection in accepted:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


@pytest.mark.parametrize(
    ("acknowledges_connect", "workflow", "said"),
    [
        (False, "sendOnce", "not sent within the run's timeout of 3 s"),
        (False, "nobodyAnswers", "not confirmed within 0.3 s"),
        (True, "nobodyAnswers", "not confirmed within 0.3 s"),
    ],
    ids=["silent-send", "silent-receive", "connack-only-receive"],
)
def test_an_mqtt_connection_given_up_on_ends_the_run_with_its_message_and_no_traceback(
    acknowledges_connect: bool, workflow: str, said: str
) -> None:
    """A connection or subscription the runner gives up on (the broker never acknowledges it) fails the run
    with the step's message: the client it dropped leaves nothing behind to complain when the run ends."""
    with _mute_mqtt_broker(acknowledges_connect) as port:
        done = totpflow(SHOP, "-w", workflow, "--input", f"run={uuid.uuid4().hex}", "--no-prompt",
                        "--timeout", "3", "--server", f"shop=mqtt://127.0.0.1:{port}")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stdout + done.stderr
    for noise in ("Traceback", "Task was destroyed", "Exception ignored", "Event loop is closed"):
        assert noise not in done.stderr, done.stderr


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--server", "shop=kafka://127.0.0.1:9092", "expected a broker URL"),
        ("--server", "nosuch=mqtt://127.0.0.1:1883", "no OpenAPI or AsyncAPI source"),
        ("--auth", "shop=:no-user", "user:password or a token"),
    ],
)
def test_bad_broker_options_are_usage_errors(option: str, value: str, said: str) -> None:
    done = totpflow(SHOP, "-w", "nobodyAnswers", "--input", "run=x", option, value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr


def _send_then_receive(server: str, env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    return totpflow(
        SHOP, "-w", "sendThenReceive", "--input", f"run={run}", "--input", f"requestId={request_id}",
        "--server", f"shop={server}", *options, env=env,
    )  # fmt: skip


def _no_secret_in(done: subprocess.CompletedProcess[str], secret: str) -> None:
    assert secret not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("env", "options", "exit_code"),
    [
        ({"TOTPFLOW_AUTH_SHOP": "guest:guest"}, (), 0),
        ({"TOTPFLOW_AUTH_SHOP": "guest:not-the-password"}, (), 1),
        ({}, ("--auth", "shop=guest:not-the-password"), 1),
        ({"TOTPFLOW_AUTH_SHOP": "guest:not-the-password"}, ("--auth", "shop=guest:guest"), 0),
    ],
    ids=["environment", "environment-wrong-password", "flag-wrong-password", "flag-wins-over-environment"],
)
def test_rabbitmq_credentials_from_the_flag_or_the_environment(
    env: dict[str, str], options: tuple[str, ...], exit_code: int
) -> None:
    """RabbitMQ refuses a wrong password, so each credential provably reaches the broker."""
    require_broker("amqp")
    done = _send_then_receive("amqp://127.0.0.1:5672", env, *options)
    assert done.returncode == exit_code, done.stdout + done.stderr
    if exit_code:
        assert "cannot connect" in done.stdout + done.stderr
    _no_secret_in(done, "not-the-password")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the broker exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"the broker did not listen on port {port}")


@pytest.fixture
def private_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A broker with authentication on, on a free loopback port: ``nats-user`` (user ``ada``, password
    ``pw-1234``), ``nats-token`` (token ``tok-5678``) or ``mqtt-user`` (Mosquitto, ``ada`` / ``pw-1234``,
    anonymous refused). Yields its URL without credentials."""
    kind = request.param
    port = _free_port()
    if kind.startswith("nats"):
        program = shutil.which("nats-server") or "/usr/sbin/nats-server"
        auth = ["--user", "ada", "--pass", "pw-1234"] if kind == "nats-user" else ["--auth", "tok-5678"]
        command = [program, "-a", "127.0.0.1", "-p", str(port), *auth]
        url = f"nats://127.0.0.1:{port}"
    else:
        program = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        passwords = tmp_path / "passwords"
        subprocess.run(
            [shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b", "-c", str(passwords),
             "ada", "pw-1234"],
            check=True, capture_output=True,
        )  # fmt: skip
        config = tmp_path / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\n"
            # started as root, Mosquitto would switch to its own user, who cannot read tmp_path
            f"persistence false\nuser {pwd.getpwuid(os.getuid()).pw_name}\n",
            encoding="utf-8",
        )
        command = [program, "-c", str(config)]
        url = f"mqtt://127.0.0.1:{port}"
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, process)
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(
    ("private_broker", "secret", "wrong"),
    [
        ("nats-user", "ada:pw-1234", "ada:pw-0000"),
        ("nats-token", "tok-5678", "tok-0000"),
        ("mqtt-user", "ada:pw-1234", "ada:pw-0000"),
    ],
    indirect=["private_broker"],
)
def test_broker_credentials_from_the_environment_on_brokers_that_require_them(
    private_broker: str, secret: str, wrong: str
) -> None:
    done = _send_then_receive(private_broker, {"TOTPFLOW_AUTH_SHOP": secret})
    assert done.returncode == 0, done.stdout + done.stderr
    refused = _send_then_receive(private_broker, {"TOTPFLOW_AUTH_SHOP": wrong})
    assert refused.returncode == 1, refused.stdout + refused.stderr
    _no_secret_in(refused, wrong.partition(":")[2] or wrong)
    anonymous = _send_then_receive(private_broker, {})
    assert anonymous.returncode == 1, anonymous.stdout + anonymous.stderr


def test_a_token_on_a_broker_other_than_nats_is_refused_with_the_reason() -> None:
    require_broker("amqp")
    done = _send_then_receive("amqp://127.0.0.1:5672", {"TOTPFLOW_AUTH_SHOP": "tok-5678"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "a token credential is for NATS" in done.stdout + done.stderr
    _no_secret_in(done, "tok-5678")
