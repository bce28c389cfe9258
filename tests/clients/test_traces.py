"""OpenTelemetry traces over OTLP/HTTP, checked against a local receiver: `strata serve` in
front of `strata sim --zero-latency` exports to a small http.server that decodes each
POST /v1/traces with `opentelemetry-proto`.

- an OpenAI chat request: a SERVER span `chat {model}` with the GenAI attributes (token counts
  equal the usage the client saw), continuing the caller's `traceparent`, with `admit`, `route`
  and one CLIENT `attempt` per upstream attempt (a throttled first attempt carries error.type);
- a Converse stream: the request's span ends when the stream ends, with the stream's usage;
- a failing request: error.type and an error status, no attempt;
- no prompt text anywhere in the exported bytes;
- a collector that is down costs no latency and does not hold the exit;
- traces off (`enabled: false`) sends nothing, though the OTEL_* variables point at the receiver;
  the variables alone turn traces on, and spans still queued are sent at shutdown."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from gatewaylib import gateways, static_account
from simlib import free_port

NOVA = "amazon.nova-pro-v1:0"
US_NOVA = "us." + NOVA
KEY = "sk-test-traces-0001"
MARKER = "PROMPT-MARKER-5c1e"
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class Receiver:
    """An OTLP/HTTP traces endpoint on a free port: keeps every request's raw body and its spans."""

    def __init__(self):
        self.bodies: list[bytes] = []
        self.spans: list[tuple[dict, Span]] = []  # (resource attributes, span)
        self.paths: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with receiver.lock:
                    receiver.paths.append(self.path)
                    receiver.bodies.append(body)
                    for rs in request.resource_spans:
                        resource = attributes(rs.resource.attributes)
                        for ss in rs.scope_spans:
                            for span in ss.spans:
                                receiver.spans.append((resource, span))
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def wait_for(self, predicate, timeout: float = 15.0) -> list[Span]:
        """Every span received once one matches `predicate`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                spans = [s for _, s in self.spans]
            if any(predicate(s) for s in spans):
                return spans
            time.sleep(0.05)
        raise AssertionError(f"no matching span within {timeout} s; got {[s.name for s in spans]}")

    def request_root(self, request_id: str) -> Span:
        """The SERVER span of the request with this ID (`strata.request_id`), once received."""
        def is_root(s):
            return (s.kind == Span.SPAN_KIND_SERVER
                    and attributes(s.attributes).get("strata.request_id") == request_id)
        return next(s for s in self.wait_for(is_root) if is_root(s))

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def attributes(kvs) -> dict:
    out = {}
    for kv in kvs:
        v = kv.value
        kind = v.WhichOneof("value")
        out[kv.key] = getattr(v, kind) if kind else None
    return out


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "RUST_LOG"}
    # Batches go out every 100 ms instead of 5 s.
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    return env


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    """start(config_text, env=None) → a gateway (env: its whole environment; default
    `base_env()`). Each gateway gets its own `gateways` holder, which stops it afterwards."""
    holders = []

    def start(text, env=None):
        holder = gateways(tmp_path, monkeypatch, lambda: pytest.fail("give a config"),
                          env=env if env is not None else base_env())
        holders.append(holder)
        return next(holder)(text)

    yield start
    for holder in holders:
        for _ in holder:
            pass


def config(sim, telemetry: str) -> str:
    f = sim.fleet
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}discovery: {{enabled: false}}
models:
  - name: nova-t
    strategy: priority
    deployments:
      - {{account: prod-us, region: us-east-1, model: {NOVA}, priority: 0}}
      - {{account: prod-us, region: us-east-1, model: {US_NOVA}, priority: 1}}
tenants:
  - {{name: traced-apps, keys: [{KEY}], residency: [us], route_detail: full}}
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 3, base_delay_ms: 1, max_delay_ms: 20}}
{telemetry}"""


def traces_section(receiver, extra: str = "") -> str:
    return (f"telemetry:\n  traces:\n    otlp_endpoint: {receiver.endpoint}\n"
            f"    service_name: strata-under-test\n    sample_ratio: 1.0\n{extra}")


def hexid(b: bytes) -> str:
    return b.hex()


def children_of(spans, root: Span) -> list[Span]:
    return [s for s in spans if s.parent_span_id == root.span_id and s.trace_id == root.trace_id]


def test_chat_stream_and_failure_spans(sim, gateway, receiver):
    g = gateway(config(sim, traces_section(receiver)))
    # The first attempt is throttled: the request is answered by the second candidate.
    sim.add_fault(kind="throttle", count=1)
    client = openai.OpenAI(base_url=g.endpoint + "/v1", api_key=KEY, max_retries=0, timeout=20)
    raw = client.chat.completions.with_raw_response.create(
        model="nova-t", messages=[{"role": "user", "content": f"say hi {MARKER}"}], max_tokens=7,
        temperature=0.5, extra_headers={"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    reply = raw.parse()
    request_id = raw.headers["x-request-id"]

    root = receiver.request_root(request_id)
    a = attributes(root.attributes)
    assert root.name == "chat nova-t"
    # The caller's trace is continued.
    assert hexid(root.trace_id) == CALLER_TRACE and hexid(root.parent_span_id) == CALLER_SPAN
    assert a["gen_ai.system"] == "aws.bedrock"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == "nova-t"
    assert a["gen_ai.response.model"] == US_NOVA
    assert a["gen_ai.request.max_tokens"] == 7
    assert a["gen_ai.request.temperature"] == pytest.approx(0.5)
    assert a["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert a["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens
    assert reply.usage.completion_tokens > 0
    assert a["strata.tenant"] == "traced-apps"
    assert a["strata.dialect"] == "openai"
    assert a["strata.route"] == f"prod-us/us-east-1/{US_NOVA}"
    assert a["http.response.status_code"] == 200
    assert "error.type" not in a
    assert root.status.code != Status.STATUS_CODE_ERROR

    # The children may arrive in another batch than the root.
    spans = receiver.wait_for(lambda s: s.name == "attempt" and s.parent_span_id == root.span_id
                              and attributes(s.attributes).get("strata.outcome") == "ok")
    kids = children_of(spans, root)
    by_name = {}
    for k in kids:
        by_name.setdefault(k.name, []).append(k)
    assert sorted(by_name) == ["admit", "attempt", "route"], [k.name for k in kids]
    assert attributes(by_name["route"][0].attributes)["strata.candidates"] == 2
    attempts = sorted(by_name["attempt"], key=lambda s: s.start_time_unix_nano)
    assert len(attempts) == 2
    first, second = (attributes(s.attributes) for s in attempts)
    assert all(s.kind == Span.SPAN_KIND_CLIENT for s in attempts)
    assert first["error.type"] == "throttled" and first["strata.outcome"] == "throttled"
    assert attempts[0].status.code == Status.STATUS_CODE_ERROR
    assert first["gen_ai.request.model"] == NOVA and first["strata.target_kind"] == "in_region"
    assert second["strata.outcome"] == "ok" and "error.type" not in second
    assert second["gen_ai.request.model"] == US_NOVA and second["strata.target_kind"] == "geography"
    for at in (first, second):
        assert at["cloud.region"] == "us-east-1"
        assert at["strata.account"] == "prod-us"
        assert at["server.address"] == "127.0.0.1"
        assert at["gen_ai.system"] == "aws.bedrock"
    for k in kids:
        assert root.start_time_unix_nano <= k.start_time_unix_nano <= k.end_time_unix_nano <= root.end_time_unix_nano

    # A Converse stream, paced so it outlasts its head: the span ends with the stream.
    r = sim.post("/_sim/latency", {"ttft_ms": 0, "tokens_per_second": 40, "jitter": 0})
    assert r.status_code == 200, r.text
    try:
        rt = g.bedrock(KEY)
        response = rt.converse_stream(modelId="nova-t", messages=[{"role": "user", "content": [{"text": f"stream {MARKER}"}]}],
                                      inferenceConfig={"maxTokens": 20})
        stream_id = response["ResponseMetadata"]["HTTPHeaders"]["x-request-id"]
        usage = None
        first_event_ns = None
        for event in response["stream"]:
            first_event_ns = first_event_ns or time.time_ns()
            if "metadata" in event:
                usage = event["metadata"]["usage"]
        last_event_ns = time.time_ns()
    finally:
        sim.post("/_sim/latency", {"ttft_ms": 0, "tokens_per_second": 0, "jitter": 0})
    assert usage and usage["outputTokens"] > 5, usage

    sroot = receiver.request_root(stream_id)
    sa = attributes(sroot.attributes)
    assert sroot.name == "chat nova-t"
    assert sa["strata.dialect"] == "bedrock"
    assert sa["gen_ai.usage.input_tokens"] == usage["inputTokens"]
    assert sa["gen_ai.usage.output_tokens"] == usage["outputTokens"]
    assert sa["gen_ai.request.max_tokens"] == 20
    # A new trace (no traceparent), ended after the stream's events had begun reaching the client
    # and lasting at least as long as the client saw them come.
    assert sroot.parent_span_id == b"" and hexid(sroot.trace_id) != CALLER_TRACE
    assert sroot.end_time_unix_nano >= first_event_ns
    assert sroot.end_time_unix_nano - sroot.start_time_unix_nano >= (last_event_ns - first_event_ns) * 0.8
    spans = receiver.wait_for(lambda s: s.name == "attempt" and s.parent_span_id == sroot.span_id)
    (sattempt,) = [s for s in children_of(spans, sroot) if s.name == "attempt"]
    # The attempt ends with the stream's head; the request's span with the stream.
    assert sroot.end_time_unix_nano - sattempt.end_time_unix_nano >= (last_event_ns - first_event_ns) * 0.5

    # A failure: an unknown model.
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": f"x {MARKER}"}])
    failed_id = e.value.response.headers["x-request-id"]

    froot = receiver.request_root(failed_id)
    fa = attributes(froot.attributes)
    assert froot.name == "chat no-such-model"
    assert fa["error.type"] == "unknown_model"
    assert fa["http.response.status_code"] == 404
    assert froot.status.code == Status.STATUS_CODE_ERROR
    spans = receiver.wait_for(lambda s: s.name == "route" and s.parent_span_id == froot.span_id)
    fkids = children_of(spans, froot)
    assert [k.name for k in fkids] == ["route"]
    assert attributes(fkids[0].attributes)["error.type"] == "unknown_model"

    # The resource names the service; no prompt text was ever exported.
    with receiver.lock:
        resources = [r for r, _ in receiver.spans]
        bodies = b"".join(receiver.bodies)
        paths = set(receiver.paths)
    assert {r.get("service.name") for r in resources} == {"strata-under-test"}
    assert paths == {"/v1/traces"}
    assert MARKER.encode() not in bodies
    assert b"say hi" not in bodies and b"stream PROMPT" not in bodies


def test_traces_off_sends_nothing_and_the_environment_alone_turns_them_on_flushed_at_shutdown(sim, gateway, receiver):
    env = base_env()
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
    env["OTEL_SERVICE_NAME"] = "strata-from-env"

    def one_request(g):
        client = openai.OpenAI(base_url=g.endpoint + "/v1", api_key=KEY, max_retries=0, timeout=20)
        raw = client.chat.completions.with_raw_response.create(
            model="nova-t", messages=[{"role": "user", "content": f"hi {MARKER}"}], max_tokens=3)
        return raw.headers["x-request-id"]

    off = gateway(config(sim, "telemetry:\n  traces: {enabled: false}\n"), env=env)
    one_request(off)
    off.stopped_by_test = True
    off.stop()  # a shutdown flushes whatever was queued: nothing must come
    time.sleep(0.5)
    with receiver.lock:
        assert receiver.bodies == [], "traces were sent while off"

    # Batches every minute: the span reaches the receiver only through the flush at shutdown.
    env["OTEL_BSP_SCHEDULE_DELAY"] = "60000"
    on = gateway(config(sim, ""), env=env)
    request_id = one_request(on)
    time.sleep(0.3)
    with receiver.lock:
        assert receiver.bodies == [], "sent before the batch was due"
    on.stopped_by_test = True
    on.stop()
    spans = receiver.wait_for(lambda s: attributes(s.attributes).get("strata.request_id") == request_id,
                              timeout=2)
    with receiver.lock:
        resources = {r.get("service.name") for r, _ in receiver.spans}
    assert resources == {"strata-from-env"}
    assert any(s.name == "chat nova-t" for s in spans)


def test_a_collector_that_is_down_costs_no_latency(sim, gateway):
    # Nothing listens on the port: every export fails, on the exporter's thread.
    down = f"http://127.0.0.1:{free_port()}"
    g = gateway(config(sim, f"telemetry:\n  traces: {{otlp_endpoint: '{down}'}}\n"))
    client = openai.OpenAI(base_url=g.endpoint + "/v1", api_key=KEY, max_retries=0, timeout=20)
    for i in range(20):
        started = time.monotonic()
        r = client.chat.completions.create(model="nova-t", messages=[{"role": "user", "content": f"n {i}"}],
                                           max_tokens=3)
        assert r.choices[0].message.content
        assert time.monotonic() - started < 2.0, i
        time.sleep(0.02)  # several export rounds (every 100 ms) fail meanwhile
    g.stopped_by_test = True
    started = time.monotonic()
    g.stop()
    assert g.proc.returncode == 0, g.stderr()
    assert time.monotonic() - started < 9, "the flush at shutdown held the exit"
