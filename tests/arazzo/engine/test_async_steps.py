"""AsyncAPI steps in the runner against the machine's real brokers (Mosquitto, RabbitMQ, NATS) and a loopback
WebSocket relay hub: send steps with a decoy, a receive step that correlates on a message header (not on
WebSocket, which carries none) or on the payload, a workflow that mixes an HTTP step (a loopback server that
publishes the confirmation to the broker when called) with a receive step, and a receive step that times out.
Each test skips, naming the broker, when it is not reachable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import loopback
import pytest

from totpflow.arazzo import RunOptions, load
from totpflow.arazzo.asyncapi import adapter_for, encode_payload, endpoint_from_url
from totpflow.arazzo.errors import DocumentInvalid

sys.path.insert(0, str(Path(__file__).parents[1] / "asyncapi"))
from broker_endpoints import BROKERS, endpoint_for, require_broker

DATA = Path(__file__).parent / "data" / "async"
URLS = {
    "mqtt": "mqtt://127.0.0.1:1883",
    "amqp": "amqp://guest:guest@127.0.0.1:5672",
    "nats": "nats://127.0.0.1:4222",
}


ALL = [*BROKERS, "ws"]


@pytest.fixture
def broker_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The broker URL for the test's ``protocol``; for ``ws`` a relay hub served on its own event loop."""
    protocol = request.node.callspec.params["protocol"]
    require_broker(protocol)
    if protocol != "ws":
        yield URLS[protocol]
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    hub = endpoint_for("ws")
    endpoint = asyncio.run_coroutine_threadsafe(hub.__aenter__(), loop).result()
    try:
        yield f"ws://{endpoint.host}:{endpoint.port}{endpoint.pathname}"
    finally:
        asyncio.run_coroutine_threadsafe(hub.__aexit__(None, None, None), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _run(workflow: str, url: str, inputs: dict[str, Any], servers: dict[str, str] | None = None) -> Any:
    options = RunOptions(servers={"shop": url, **(servers or {})}, timeout=5.0)
    with httpx.Client() as client:
        return load(str(DATA / "shop.arazzo.yaml")).run(
            workflow, inputs=inputs, options=options, client=client
        )


@pytest.mark.parametrize("protocol", list(BROKERS))
def test_a_receive_step_picks_the_correlated_message_among_decoys(protocol: str) -> None:
    require_broker(protocol)
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    result = _run("sendThenReceive", URLS[protocol], {"run": run, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"petId": 7, "shop": "north", "requestId": request_id}
    _decoy, order, seen = workflow.steps
    (sent,) = order.messages
    assert (sent.action, sent.channel, sent.address) == ("send", "orders", f"totpflow.{run}.orders")
    assert sent.headers == {"x-shop": "north", "requestId": request_id}
    assert (sent.payload, sent.correlation_id, sent.protocol) == ({"petId": 7}, request_id, protocol)
    (received,) = seen.messages
    assert (received.action, received.correlation_id, received.payload) == (
        "receive",
        request_id,
        {"petId": 7},
    )
    assert received.headers["x-shop"] == "north"


@pytest.mark.parametrize("protocol", ALL)
def test_a_send_steps_payload_takes_its_replacements_and_a_json_string_template(
    protocol: str, broker_url: str
) -> None:
    """As an HTTP request body: replacements are applied, and JSON text given as a string goes out as the
    JSON it is (not as a JSON string), so both messages are found by the ``requestId`` in their payload."""
    run, request_id, other_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}", f"other-{uuid.uuid4().hex}"
    inputs = {"run": run, "requestId": request_id, "otherId": other_id}
    result = _run("confirmByTemplateAndReplacement", broker_url, inputs)
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"sentId": request_id, "templated": "rejected", "replaced": "ok"}


@pytest.mark.parametrize("protocol", ALL)
def test_two_receive_steps_on_one_correlation_id_read_two_messages(protocol: str, broker_url: str) -> None:
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    result = _run("twoConfirmationsOfOneRequest", broker_url, {"run": run, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"first": "pending", "second": "ok"}


@pytest.mark.parametrize("protocol", ALL)
def test_a_payload_is_read_as_the_content_type_its_channel_declares(protocol: str, broker_url: str) -> None:
    result = _run("aNoteInPlainText", broker_url, {"run": uuid.uuid4().hex})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"note": "123"}
    (received,) = workflow.steps[1].messages
    assert (received.payload, received.content_type) == ("123", "text/plain")


def test_a_send_after_the_broker_restarted_connects_again() -> None:
    """A private NATS server stops and starts again on its port while a receive step waits: the next send
    fails on the connection it had, and its retry connects again (the broken connection is not kept)."""
    import shutil

    program = shutil.which("nats-server") or "/usr/sbin/nats-server"
    if not Path(program).exists():
        pytest.skip("nats-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [program, "-a", "127.0.0.1", "-p", str(port)]

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
            time.sleep(0.05)
        process.kill()
        pytest.fail("nats-server did not listen")

    broker = [start()]

    def restart() -> None:
        time.sleep(0.8)  # the first order is out; the receive step waits (2.5 s)
        broker[0].terminate()
        broker[0].wait(10)
        broker[0] = start()

    restarting = threading.Thread(target=restart)
    try:
        restarting.start()
        result = _run("sendAfterTheBrokerRestarts", f"nats://127.0.0.1:{port}", {"run": uuid.uuid4().hex})
        restarting.join()
    finally:
        restarting.join()
        broker[0].terminate()
        broker[0].wait(10)
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    after = [step for step in workflow.steps if step.step_id == "after"]
    assert after and after[-1].ok


@pytest.mark.parametrize("protocol", list(BROKERS))
def test_a_secret_in_a_channel_address_is_masked_in_the_messages(protocol: str) -> None:
    """A channel parameter from a secret input: the address the runner reports is masked like any text."""
    require_broker(protocol)
    from totpflow.arazzo.reports.json_report import to_json

    run, request_id = f"secret{uuid.uuid4().hex}", f"req-{uuid.uuid4().hex}"
    options = RunOptions(servers={"shop": URLS[protocol]}, timeout=5.0, secret_inputs=frozenset({"run"}))
    with httpx.Client() as client:
        loaded = load(str(DATA / "shop.arazzo.yaml"))
        result = loaded.run(
            "sendThenReceive", inputs={"run": run, "requestId": request_id}, options=options, client=client
        )
    assert result.ok, result.workflows[0].error
    addresses = [message.address for step in result.workflows[0].steps for message in step.messages]
    assert addresses and all(run not in address for address in addresses), addresses
    assert run not in json.dumps(to_json(result))


@pytest.mark.parametrize("protocol", ALL)
def test_decoy_sends_then_a_receive_correlated_on_the_payload(protocol: str, broker_url: str) -> None:
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    result = _run("confirmByMessage", broker_url, {"run": run, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"status": "ok"}
    decoy, _confirm, confirmed = workflow.steps
    assert decoy.messages[0].correlation_id == "another-request"
    (received,) = confirmed.messages
    assert (received.protocol, received.correlation_id) == (protocol, request_id)
    assert received.payload == {"requestId": request_id, "status": "ok"}


@pytest.mark.parametrize("protocol", ALL)
def test_an_http_step_triggers_the_message_a_receive_step_waits_for(protocol: str, broker_url: str) -> None:
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"

    class Shop(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            endpoint, credentials = endpoint_from_url(broker_url)

            async def confirm() -> None:
                adapter = adapter_for(protocol)
                await adapter.connect(endpoint, credentials)
                try:
                    for reply in (
                        {"requestId": "another-request", "status": "rejected"},
                        {"requestId": body["requestId"], "status": "ok"},
                    ):
                        address = f"totpflow.{body['run']}.confirmations"
                        await adapter.publish(address, {}, encode_payload(reply, "application/json"))
                finally:
                    await adapter.close()

            asyncio.run(confirm())  # published before the HTTP response: the receive step must already listen
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    with loopback.serve(Shop) as url:
        result = _run("checkout", broker_url, {"run": run, "requestId": request_id}, {"shopApi": url})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.outputs == {"status": "ok"}
    pay, confirmed = workflow.steps
    assert pay.exchanges and not pay.messages
    (received,) = confirmed.messages
    assert received.payload == {"requestId": request_id, "status": "ok"}


@pytest.mark.parametrize("protocol", ALL)
def test_a_receive_step_that_gets_no_matching_message_fails_at_its_timeout(
    protocol: str, broker_url: str
) -> None:
    result = _run("nobodyAnswers", broker_url, {"run": uuid.uuid4().hex})
    assert not result.ok
    (step,) = result.workflows[0].steps
    assert not step.ok
    (awaited,) = step.messages  # what the step waited for, no payload
    assert (awaited.action, awaited.channel, awaited.correlation_id) == (
        "receive",
        "confirmations",
        "never-sent",
    )
    assert (awaited.timed_out, awaited.timeout_ms, awaited.payload, awaited.headers) == (True, 300, None, {})
    assert step.error is not None
    assert "'never-sent'" in step.error and "confirmations" in step.error and "0.3 s" in step.error


@pytest.mark.parametrize("protocol", ALL)
def test_a_receive_step_with_timeout_zero_still_subscribes_when_its_workflow_starts(
    protocol: str, broker_url: str
) -> None:
    """``timeout: 0`` bounds the wait for a message, not the subscription made before the workflow's first
    step (whether the message the previous step sent has arrived by then is the broker's timing)."""
    request_id = f"req-{uuid.uuid4().hex}"
    inputs = {"run": uuid.uuid4().hex, "requestId": request_id, "expected": request_id}
    result = _run("receiveWithTimeoutZero", broker_url, inputs)
    confirmed = result.workflows[0].steps[1]
    assert confirmed.ok or "within 0 s" in (confirmed.error or ""), confirmed.error
    assert "not confirmed" not in (confirmed.error or ""), confirmed.error


@pytest.mark.parametrize("protocol", ["mqtt", "amqp", "nats"])
def test_a_receive_step_on_a_broker_that_never_answers_fails_at_its_timeout(protocol: str) -> None:
    """A port that accepts the connection and says nothing: the subscription (connecting included) is bound
    by the step's timeout (300 ms), once, not by the client library's own connect timeout. Made when the
    workflow started, its wait is the step's time."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        started = time.monotonic()
        result = _run("nobodyAnswers", f"{protocol}://127.0.0.1:{silent.getsockname()[1]}", {"run": "r"})
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    (step,) = result.workflows[0].steps
    assert not step.ok and step.error is not None
    assert "within 0.3 s" in step.error, step.error
    assert elapsed < 5, elapsed  # the libraries' own connect timeouts are 10 s or more
    assert step.elapsed_ms >= 290, step.elapsed_ms  # the 300 ms the subscription was given
    assert result.workflows[0].elapsed_ms >= step.elapsed_ms


def _count(accepted: list[socket.socket], at_least: int) -> int:
    """The connections accepted, once there are ``at_least`` or 5 s have passed: a connection the client made
    may wait in the listener's backlog until the accepting thread runs."""
    deadline = time.monotonic() + 5
    while len(accepted) < at_least and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(accepted)


@contextlib.contextmanager
def _silent_broker() -> Iterator[tuple[str, list[socket.socket]]]:
    """A loopback port that accepts every connection and never says anything: (its host:port, the
    connections accepted so far)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(5)
        for connection in accepted:
            connection.close()


@pytest.mark.parametrize("protocol", ["mqtt", "amqp", "nats", "ws"])
def test_a_workflow_steps_timeout_bounds_its_childs_subscription_and_a_retry_connects_again(
    protocol: str,
) -> None:
    """A workflow step (700 ms) calls a workflow whose receive step (5000 ms) subscribes to a broker that
    never answers: the subscription gets only the time left of the 700 ms, and the step's retry connects
    again."""
    with _silent_broker() as (where, accepted):
        started = time.monotonic()
        result = _run("callsNobodyAnswersSlowly", f"{protocol}://{where}", {"run": uuid.uuid4().hex})
        elapsed = time.monotonic() - started
        connections = _count(accepted, at_least=2)
    parent = next(w for w in result.workflows if w.workflow_id == "callsNobodyAnswersSlowly")
    (call,) = parent.steps
    assert not call.ok and call.attempts == 2
    assert "did not complete within" in (call.error or "") and "700 ms" in (call.error or ""), call.error
    children = [w for w in result.workflows if w.workflow_id == "nobodyAnswersSlowly"]
    assert len(children) == 2
    for child in children:
        assert "'call' (700 ms) has passed" in (child.error or ""), child.error
    assert connections >= 2, connections  # the retry did not reuse the first attempt's failure
    assert elapsed < 4, elapsed  # two attempts of 700 ms; the child's own 5 s would be 10 s


@pytest.mark.parametrize(("workflow", "attempts"), [("nobodyAnswers", 1), ("sendWithTimeout", 2)])
def test_an_mqtt_step_on_a_broker_that_never_answers_ends_at_its_timeout(
    workflow: str, attempts: int
) -> None:
    """A receive step (300 ms) and a send step (200 ms, retried once) on an MQTT broker that never
    acknowledges the connection: each attempt ends at its timeout, the connection it gave up on dropped
    without waiting for the broker, and a retry connects again."""
    with _silent_broker() as (where, accepted):
        started = time.monotonic()
        result = _run(workflow, f"mqtt://{where}", {"run": uuid.uuid4().hex})
        elapsed = time.monotonic() - started
        connections = _count(accepted, at_least=attempts)
    (step,) = result.workflows[0].steps
    assert not step.ok and step.attempts == attempts, step.error
    assert connections == attempts, connections
    assert elapsed < 2, elapsed  # at most 0.4 s of timeouts; dropping a connection took 2 s each


def test_an_http_only_run_imports_no_broker_code() -> None:
    code = (
        "import sys\n"
        "from totpflow.arazzo import RunOptions, load\n"
        f"load({str(Path(__file__).parent / 'data' / 'pets.arazzo.yaml')!r})"
        ".run('loginAndGetPet', options=RunOptions(dry_run=True),"
        " inputs={'username': 'u', 'password': 'p'})\n"
        "names = ['aiomqtt', 'paho', 'aio_pika', 'nats', 'websockets', 'totpflow.arazzo.asyncapi',"
        " 'totpflow.arazzo.engine.messaging']\n"
        "print(sorted(name for name in names if name in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("written", "replacement", "location", "said"),
    [
        (
            "operationId: $sourceDescriptions.shop.placeOrder",
            "operationId: $sourceDescriptions.shop.noSuchOperation",
            "/workflows/0/steps/0/operationId",
            "no AsyncAPI operation 'noSuchOperation'",
        ),
        (
            "operationId: $sourceDescriptions.shop.placeOrder",
            "operationId: $sourceDescriptions.shopApi.placeOrder",
            "/workflows/0/steps/0/operationId",
            "is of type openapi",
        ),
        (
            "channelPath: '{$sourceDescriptions.shop.url}#/channels/orders'",
            "channelPath: '{$sourceDescriptions.shop.url}#/operations/placeOrder'",
            "/workflows/0/steps/2/channelPath",
            "does not point at a Channel Object",
        ),
    ],
)
def test_an_async_step_naming_nothing_is_refused_at_its_location(
    tmp_path: Path, written: str, replacement: str, location: str, said: str
) -> None:
    for name in ("shop.asyncapi.yaml", "shop.openapi.yaml"):
        (tmp_path / name).write_text((DATA / name).read_text(encoding="utf-8"), encoding="utf-8")
    text = (DATA / "shop.arazzo.yaml").read_text(encoding="utf-8")
    assert written in text
    document = tmp_path / "shop.arazzo.yaml"
    document.write_text(text.replace(written, replacement, 1), encoding="utf-8")
    with pytest.raises(DocumentInvalid) as caught:
        load(str(document))
    found = {problem.location: problem.message for problem in caught.value.problems}
    assert location in found and said in found[location], found


def test_a_correlated_message_failing_the_criteria_fails_the_step_without_waiting_for_another() -> None:
    require_broker("mqtt")
    request_id = f"req-{uuid.uuid4().hex}"
    result = _run("rejected", URLS["mqtt"], {"run": uuid.uuid4().hex, "requestId": request_id})
    assert not result.ok
    _reject, confirmed = result.workflows[0].steps
    assert [check.passed for check in confirmed.checks] == [False]
    assert confirmed.messages[0].payload == {"requestId": request_id, "status": "rejected"}
    assert confirmed.error is not None and "success criteria not met" in confirmed.error


@pytest.mark.parametrize("protocol", ALL)
def test_a_receive_step_whose_channel_an_earlier_step_names_subscribes_before_the_next_step(
    protocol: str, broker_url: str
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    result = _run("channelFromAnEarlierStep", broker_url, {"run": uuid.uuid4().hex, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    assert workflow.steps[2].messages[0].correlation_id == request_id


@contextlib.contextmanager
def _quote_desk(protocol: str, broker_url: str, run: str) -> Iterator[list[str]]:
    """The shop's side of ``requestQuote``: every request on ``totpflow.<run>.quotes`` gets two quotes at the
    address it names (header ``replyTo``, else payload ``replyTo``), another request's first. Yields the reply
    addresses the requests named."""
    named: list[str] = []
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    endpoint, credentials = endpoint_from_url(broker_url)
    adapter = adapter_for(protocol)

    async def start() -> Any:
        await adapter.connect(endpoint, credentials)
        return await adapter.subscribe(f"totpflow.{run}.quotes")

    requests = asyncio.run_coroutine_threadsafe(start(), loop).result(10)

    async def serve() -> None:
        while True:
            request = await requests.get()
            body = request.decoded()
            reply_to = request.headers.get("replyTo") or body.get("replyTo")
            named.append(reply_to)
            for quote in (
                {"requestId": "another-request", "price": 99},
                {"requestId": body["requestId"], "price": 12},
            ):
                await adapter.publish(reply_to, {}, encode_payload(quote, "application/json"))

    serving = asyncio.run_coroutine_threadsafe(serve(), loop)
    try:
        yield named
    finally:
        serving.cancel()

        async def stop() -> None:
            await requests.close()
            await adapter.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _reply_address_run(protocol: str, broker_url: str, workflow_id: str) -> None:
    run, request_id = uuid.uuid4().hex, f"req-{uuid.uuid4().hex}"
    with _quote_desk(protocol, broker_url, run) as named:
        result = _run(workflow_id, broker_url, {"run": run, "requestId": request_id})
    (workflow,) = result.workflows
    assert result.ok, (workflow.error, [step.error for step in workflow.steps])
    reply_to = workflow.outputs["replyTo"]
    assert workflow.outputs == {"price": 12, "replyTo": reply_to}
    assert named == [reply_to]  # the request carried the address the runner chose
    separator = "." if protocol in ("amqp", "nats") else "/"
    assert reply_to.startswith(f"totpflow{separator}reply{separator}")
    ask, quote = workflow.steps
    (received,) = quote.messages
    assert (received.address, received.correlation_id, received.payload) == (
        reply_to,
        request_id,
        {"requestId": request_id, "price": 12},
    )
    (sent,) = ask.messages
    assert sent.address == f"totpflow.{run}.quotes"


@pytest.mark.parametrize("protocol", list(BROKERS))
def test_a_receive_step_gets_the_reply_at_the_address_the_runner_wrote_in_a_header(
    protocol: str, broker_url: str
) -> None:
    """A dynamic reply address (``reply.address.location: $message.header#/replyTo``)."""
    _reply_address_run(protocol, broker_url, "quoteByReplyAddress")


@pytest.mark.parametrize("protocol", ALL)
def test_a_receive_step_gets_the_reply_at_the_address_the_runner_wrote_in_the_payload(
    protocol: str, broker_url: str
) -> None:
    """A dynamic reply address in the payload (``$message.payload#/replyTo``), WebSocket included."""
    _reply_address_run(protocol, broker_url, "quoteByReplyAddressInPayload")
