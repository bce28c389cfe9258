"""Bedrock calls over HTTP/2 (`aws.http2`): unmodified boto3 and openai clients through a gateway
whose calls to the emulator share HTTP/2 connections (prior knowledge over plain http), a new
connection opening only when every open one carries `max_streams` calls — and, beside it, the
default gateway (streams over HTTP/2, short calls one HTTP/1.1 connection per call in flight) and
one with HTTP/2 off."""

from __future__ import annotations

import concurrent.futures
import os
import time

import openai
import pytest

from gatewaylib import gateways, static_account

NOVA = "amazon.nova-pro-v1:0"
KEY = "sk-test-h2-000001"


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def config(sim, http2: str) -> str:
    return f"""
aws:
  endpoint_url: {sim.endpoint}
  {http2}
accounts:
{static_account(sim.fleet, "prod-us")}
models:
  - name: nova
    deployments: [{{account: prod-us, region: us-east-1, model: {NOVA}}}]
discovery: {{enabled: false}}
tenants:
  - {{name: apps, keys: [{KEY}], residency: [any]}}
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 1, base_delay_ms: 1, max_delay_ms: 10}}
"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    yield from gateways(tmp_path, monkeypatch, lambda: config(sim, "http2: {calls: all, max_streams: 2}"))


def connections(pid: int, port: int) -> int:
    """Established TCP connections of process `pid` to 127.0.0.1:`port`."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:["):-1])
    n = 0
    with open(f"/proc/{pid}/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].split(":")[1], 16)
            if remote_port == port and fields[3] == "01" and fields[9] in inodes:
                n += 1
    return n


def sim_port(sim) -> int:
    return int(sim.endpoint.rsplit(":", 1)[1])


def test_converse_streams_and_openai_chat_go_over_http2(sim, gateway):
    g = gateway()
    rt = g.bedrock(KEY)
    r = rt.converse(modelId="nova", messages=[user("hello")], inferenceConfig={"maxTokens": 5})
    assert r["usage"]["outputTokens"] == 5
    events = list(rt.converse_stream(modelId="nova", messages=[user("hello")])["stream"])
    assert "messageStart" in events[0] and "metadata" in events[-1]
    client = openai.OpenAI(base_url=g.endpoint + "/v1", api_key=KEY, max_retries=0)
    chunks = list(client.chat.completions.create(model="nova", messages=[{"role": "user", "content": "hi"}],
                                                 max_tokens=4, stream=True))
    assert chunks[-1].choices[0].finish_reason == "length"
    # Three calls one after another: one connection, reused.
    assert connections(g.proc.pid, sim_port(sim)) == 1
    assert sum(i["count"] for i in sim.invocations()) == 3


def held_calls(sim, g, n: int, stream: bool = False) -> int:
    """Starts `n` Converse (or ConverseStream) calls the emulator holds for 1.5 s each, counts the
    gateway's connections to the emulator while they are all in flight, and checks every call
    answered."""
    sim.add_fault(kind="latency", added_ms=1500)
    rt = g.bedrock(KEY)

    def call(_):
        if not stream:
            return rt.converse(modelId="nova", messages=[user("hello")], inferenceConfig={"maxTokens": 3})
        events = rt.converse_stream(modelId="nova", messages=[user("hello")],
                                    inferenceConfig={"maxTokens": 3})["stream"]
        return next(e["metadata"] for e in events if "metadata" in e)

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(call, i) for i in range(n)]
        seen, deadline = 0, time.monotonic() + 1.2
        while time.monotonic() < deadline:
            seen = max(seen, connections(g.proc.pid, sim_port(sim)))
            time.sleep(0.05)
        answers = [f.result() for f in futures]
    assert all(a["usage"]["outputTokens"] == 3 for a in answers)
    return seen


def test_calls_in_flight_share_connections_up_to_max_streams(sim, gateway):
    shared = gateway()
    assert held_calls(sim, shared, 5) == 3, "five calls at two streams a connection: three connections"


def test_without_http2_each_call_in_flight_holds_a_connection(sim, gateway):
    plain = gateway(config(sim, "http2: {calls: none}"))
    assert held_calls(sim, plain, 5, stream=True) == 5


def test_by_default_streams_share_a_connection_and_short_calls_hold_one_each(sim, gateway):
    default = gateway(config(sim, ""))
    assert held_calls(sim, default, 5, stream=True) == 1
    assert held_calls(sim, default, 5) == 5 + 1, "five of HTTP/1.1, the streams' one still open"


def test_max_streams_out_of_range_is_refused_at_start(sim, tmp_path):
    import subprocess

    from simlib import find_binary

    path = tmp_path / "bad.yaml"
    path.write_text(config(sim, "http2: {max_streams: 0}"))
    out = subprocess.run([str(find_binary()), "serve", "--config", str(path), "--listen", "127.0.0.1:0"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode != 0
    assert "aws.http2.max_streams: 0 is out of range" in out.stderr
