"""``totpflow run`` with an AsyncAPI source on the real RabbitMQ (skipped, naming it, when it is not
reachable): ``--server`` names the broker, ``--auth SOURCE=user:password`` its credentials; the JSON report,
JUnit, the terminal and the ``--messages`` file show every message, with the password masked."""

from __future__ import annotations

import json
import sys
import uuid
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


def test_a_receive_timeout_fails_the_run_with_exit_1(tmp_path: Path) -> None:
    require_broker("nats")
    done = totpflow(SHOP, "-w", "nobodyAnswers", "--input", f"run={uuid.uuid4().hex}",
                    "--server", "shop=nats://127.0.0.1:4222")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "no message with correlation id 'never-sent'" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--server", "shop=kafka://127.0.0.1:9092", "expected a broker URL"),
        ("--server", "nosuch=mqtt://127.0.0.1:1883", "no OpenAPI or AsyncAPI source"),
        ("--auth", "shop=only-a-user", "user:password"),
    ],
)
def test_bad_broker_options_are_usage_errors(option: str, value: str, said: str) -> None:
    done = totpflow(SHOP, "-w", "nobodyAnswers", "--input", "run=x", option, value)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr
