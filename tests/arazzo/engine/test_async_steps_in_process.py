"""AsyncAPI steps in process, over an in-memory broker (``memory_broker.py``) in place of the broker clients:
the same workflows as ``test_async_steps.py`` runs against Mosquitto, RabbitMQ, NATS and WebSocket, with no
broker needed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from memory_broker import MemoryAdapter, MemoryBroker

from totpflow.arazzo import RunOptions, load
from totpflow.arazzo.asyncapi import Message, connections

SHOP = Path(__file__).parent / "data" / "async" / "shop.arazzo.yaml"


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> MemoryBroker:
    found = MemoryBroker()
    monkeypatch.setattr(connections, "adapter_for", lambda protocol: MemoryAdapter(found, protocol))
    return found


def _run(workflow: str, inputs: dict[str, Any], **options: Any) -> Any:
    options = {"servers": {"shop": "mqtt://memory.invalid:1883"}, "timeout": 5.0, **options}
    run_options = RunOptions(**options)
    return load(str(SHOP)).run(workflow, inputs=inputs, options=run_options)


def test_a_receive_step_picks_the_correlated_message_among_decoys(broker: MemoryBroker) -> None:
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    result = _run("sendThenReceive", {"run": run, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"petId": 7, "shop": "north", "requestId": request_id}
    _decoy, order, seen = workflow.steps
    (sent,) = order.messages
    assert (sent.action, sent.address, sent.correlation_id) == ("send", f"totpflow.{run}.orders", request_id)
    assert sent.headers == {"x-shop": "north", "requestId": request_id}
    (received,) = seen.messages
    assert (received.correlation_id, received.payload) == (request_id, {"petId": 7})
    assert [m.headers["requestId"] for m in broker.published] == ["decoy-request", request_id]


def test_decoy_sends_then_a_receive_correlated_on_the_payload(broker: MemoryBroker) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    result = _run("confirmByMessage", {"run": uuid.uuid4().hex, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"status": "ok"}
    assert workflow.steps[2].messages[0].payload == {"requestId": request_id, "status": "ok"}


def test_a_correlated_message_failing_the_criteria_fails_the_step_at_once(broker: MemoryBroker) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    result = _run("rejected", {"run": uuid.uuid4().hex, "requestId": request_id})
    _reject, confirmed = result.workflows[0].steps
    assert not result.ok
    assert [check.passed for check in confirmed.checks] == [False]
    assert confirmed.messages[0].payload == {"requestId": request_id, "status": "rejected"}
    assert confirmed.elapsed_ms < 1000  # it did not wait for the 5 s timeout


def test_a_receive_step_that_gets_no_matching_message_fails_at_its_timeout(broker: MemoryBroker) -> None:
    """The step fails naming what it waited for, and its record says so in every report: the channel, the
    address, the correlation id and the timeout, with no payload (none arrived)."""
    from totpflow.arazzo.reports.json_report import to_json
    from totpflow.arazzo.reports.junit import junit_text
    from totpflow.arazzo.reports.terminal import format_terminal

    run = uuid.uuid4().hex
    result = _run("nobodyAnswers", {"run": run})
    assert not result.ok
    (step,) = result.workflows[0].steps
    assert step.error is not None and "'never-sent'" in step.error and "0.3 s" in step.error
    (awaited,) = step.messages
    assert (awaited.action, awaited.channel, awaited.address) == (
        "receive",
        "confirmations",
        f"totpflow.{run}.confirmations",
    )
    assert (awaited.correlation_id, awaited.timeout_ms, awaited.timed_out) == ("never-sent", 300, True)
    (shown,) = to_json(result)["workflows"][0]["steps"][0]["messages"]
    assert shown["timedOut"] is True and shown["timeoutMs"] == 300
    assert (shown["channel"], shown["address"], shown["correlationId"]) == (
        "confirmations",
        f"totpflow.{run}.confirmations",
        "never-sent",
    )
    assert "payload" not in shown
    junit = junit_text(result)
    assert f"--- receive mqtt://memory.invalid:1883 totpflow.{run}.confirmations" in junit
    assert "correlation id: never-sent" in junit
    terminal = format_terminal(result, verbose=True, width=200)
    assert f"receive ← mqtt totpflow.{run}.confirmations" in terminal
    assert "correlation id: never-sent" in terminal and "payload:" not in terminal


def test_a_receive_step_whose_channel_an_earlier_step_names_subscribes_before_the_next_step(
    broker: MemoryBroker,
) -> None:
    """The in-memory broker keeps nothing for later subscribers, so the confirmation is only received when the
    subscription was made before the step that sends it."""
    request_id = f"req-{uuid.uuid4().hex}"
    result = _run("channelFromAnEarlierStep", {"run": uuid.uuid4().hex, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.steps[2].messages[0].correlation_id == request_id


@pytest.mark.parametrize(
    ("workflow_id", "where"), [("quoteByReplyAddress", "header"), ("quoteByReplyAddressInPayload", "payload")]
)
def test_a_receive_step_gets_the_reply_at_the_address_the_runner_wrote(
    broker: MemoryBroker, workflow_id: str, where: str
) -> None:
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    named: list[str] = []

    def quote_desk(request: Message) -> list[tuple[str, bytes]]:
        body = json.loads(request.payload)
        reply_to = request.headers["replyTo"] if where == "header" else body["replyTo"]
        named.append(reply_to)
        quotes = [
            {"requestId": "another-request", "price": 99},
            {"requestId": body["requestId"], "price": 12},
        ]
        return [(reply_to, json.dumps(quote).encode()) for quote in quotes]

    broker.responders[f"totpflow.{run}.quotes"] = quote_desk
    result = _run(workflow_id, {"run": run, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"price": 12, "replyTo": named[0]}
    assert named[0].startswith("totpflow/reply/")  # the form for MQTT topics
    assert workflow.steps[1].messages[0].address == named[0]


def test_broker_credentials_reach_the_adapter(broker: MemoryBroker) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    result = _run(
        "confirmByMessage",
        {"run": uuid.uuid4().hex, "requestId": request_id},
        broker_credentials={"shop": ("ada", "pw-1234")},
    )
    assert result.ok
    (login,) = broker.logins
    assert login is not None and (login.username, login.password) == ("ada", "pw-1234")


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "not-buffered"])
def test_timeout_zero_on_a_receive_step_takes_only_a_message_already_buffered(
    broker: MemoryBroker, buffered: bool
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    expected = request_id if buffered else "never-sent"
    result = _run(
        "receiveWithTimeoutZero", {"run": uuid.uuid4().hex, "requestId": request_id, "expected": expected}
    )
    assert result.ok is buffered, result.workflows[0].error
    confirmed = result.workflows[0].steps[1]
    if buffered:
        assert confirmed.messages[0].correlation_id == request_id
    else:
        assert confirmed.error is not None and "within 0 s" in confirmed.error


def test_a_correlation_id_without_a_value_fails_the_step_rather_than_take_any_message(
    broker: MemoryBroker,
) -> None:
    result = _run("correlationIdIsNull", {"run": uuid.uuid4().hex, "requestId": "req-1", "expected": None})
    confirmed = result.workflows[0].steps[1]
    assert not result.ok and not confirmed.messages
    assert confirmed.error is not None and "has no value" in confirmed.error, confirmed.error


def test_a_send_step_the_broker_does_not_take_in_time_fails_and_its_retry_sends_again(
    broker: MemoryBroker,
) -> None:
    broker.publish_delays = [2.0, 0.0]  # the first publish takes longer than the step's 200 ms
    result = _run("sendWithTimeout", {"run": uuid.uuid4().hex})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    (order,) = workflow.steps
    assert order.attempts == 2
    assert len(broker.published) == 1  # the late publish was abandoned
    assert order.elapsed_ms < 1500


def test_a_send_step_timing_out_without_a_failure_action_fails_the_workflow(broker: MemoryBroker) -> None:
    broker.publish_delays = [2.0, 2.0]
    result = _run("sendWithTimeout", {"run": uuid.uuid4().hex})
    assert not result.ok
    (order,) = result.workflows[0].steps
    assert (
        order.error is not None
        and "timed out: the message was not sent within the step's timeout of 200 ms" in (order.error)
    )


def test_a_send_step_without_a_timeout_is_bound_by_the_runs(broker: MemoryBroker) -> None:
    """A send step that sets no timeout gives the broker the run's ``--timeout`` (1 s here) to take the
    message, as a receive step's subscription has it."""
    broker.publish_delays = [10.0]
    result = _run("sendOnce", {"run": uuid.uuid4().hex}, timeout=1.0)
    assert not result.ok
    (order,) = result.workflows[0].steps
    assert "timed out: the message was not sent within the run's timeout of 1 s" in (order.error or "")
    assert order.elapsed_ms < 5000  # the broker would have taken 10 s
    assert not broker.published


def test_a_broker_error_is_an_ordinary_step_failure_that_on_failure_handles(broker: MemoryBroker) -> None:
    """Like an HTTP connection error: the step fails with the broker's error and its retry runs."""
    broker.refusals = 1
    result = _run("sendWithTimeout", {"run": uuid.uuid4().hex})
    assert result.ok, result.workflows[0].error
    (order,) = result.workflows[0].steps
    assert order.attempts == 2 and len(broker.published) == 1
    broker.refusals = 2
    failed = _run("sendWithTimeout", {"run": uuid.uuid4().hex})
    assert not failed.ok
    error = failed.workflows[0].steps[0].error
    assert error is not None and "cannot connect to memory.invalid" in error
