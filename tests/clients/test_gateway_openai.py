"""`strata serve` in front of the emulator, driven by the real `openai` client through
/v1/chat/completions: text, streaming with usage, tool calls both ways, residency, fallbacks,
errors in OpenAI's shape."""

from __future__ import annotations

import json

import openai
import pytest
from openai import OpenAI

from gatewaylib import Gateway
from simlib import find_binary
from test_gateway_bedrock import NOVA, US_SONNET, config

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather by city", "parameters": {
    "type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture
def gw(sim, tmp_path):
    g = Gateway(find_binary(), config(sim), tmp_path)
    yield g
    alive = g.proc.poll() is None
    g.stop()
    assert alive, g.stderr()


def client(gw, key="sk-test-us-000001"):
    return OpenAI(base_url=gw.endpoint + "/v1", api_key=key, max_retries=0, timeout=20)


def test_chat_and_stream_agree(gw):
    c = client(gw)
    r = c.chat.completions.create(model="claude", messages=[{"role": "system", "content": "be brief"},
                                                             {"role": "user", "content": "hello"}])
    text = r.choices[0].message.content
    assert text and r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    chunks = list(c.chat.completions.create(model="claude", stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "system", "content": "be brief"},
                                                      {"role": "user", "content": "hello"}]))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == text
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    short = c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hello"}], max_completion_tokens=4)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 4


def test_tool_calls_both_directions(gw):
    c = client(gw)
    first = c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "weather in Oslo"}],
                                      tools=TOOLS, tool_choice="required")
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    follow = c.chat.completions.create(model="claude", tools=TOOLS, messages=[
        {"role": "user", "content": "weather in Oslo"},
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "cold"}])
    assert follow.choices[0].finish_reason == "stop" and follow.choices[0].message.content
    streamed = c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "weather"}],
                                         tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}},
                                         stream=True)
    args = "".join(ch.choices[0].delta.tool_calls[0].function.arguments or ""
                   for ch in streamed if ch.choices and ch.choices[0].delta.tool_calls)
    assert "city" in json.loads(args)


def test_openai_shaped_errors(gw):
    c = client(gw)
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}], n=2)
    assert e.value.body["param"] == "n"
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="missing", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        client(gw, "sk-not-a-key-000").chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.BadRequestError):
        c.chat.completions.create(model="claude", messages=[])


def test_throttling_retried_and_outage_falls_back(sim, gw):
    c = client(gw)
    sim.add_fault(kind="throttle", account="prod-us", model=US_SONNET, count=1)
    assert c.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}]).choices
    sim.add_fault(kind="outage", model=US_SONNET)
    r = c.chat.completions.with_raw_response.create(model="claude", messages=[{"role": "user", "content": "x"}])
    assert r.headers["x-strata-route"].endswith(NOVA)


def test_models_lists_only_reachable_models(gw):
    us = {m.id for m in client(gw).models.list()}
    eu = {m.id for m in client(gw, "sk-test-eu-000001").models.list()}
    assert {"claude", "nova", "claude-eu"} <= us
    assert eu == {"claude-eu"}, eu


def test_openai_compatible_upstream_for_an_unrestricted_tenant(sim, fleet, tmp_path):
    key = next(k["token"] for a in fleet.accounts for k in a.get("api_keys", []))
    text = config(sim).replace("models:", f"""providers:
  - {{name: local-vllm, type: openai, base_url: "{sim.endpoint}/v1", api_key: "{key}"}}
models:
  - name: local-llama
    deployments:
      - {{provider: local-vllm, model: meta.llama3-3-70b-instruct-v1:0}}""", 1).replace(
        "models: [nova]}", "models: [nova, local-llama]}")
    g = Gateway(find_binary(), text, tmp_path)
    try:
        lab = client(g, "sk-test-any-00001")
        r = lab.chat.completions.with_raw_response.create(model="local-llama", messages=[{"role": "user", "content": "hi"}])
        assert r.headers["x-strata-route"] == "local-vllm/meta.llama3-3-70b-instruct-v1:0"
        assert r.parse().model == "local-llama" and r.parse().choices[0].message.content
        chunks = list(lab.chat.completions.create(model="local-llama", messages=[{"role": "user", "content": "hi"}], stream=True))
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == r.parse().choices[0].message.content
        assert {i["region"] for i in sim.invocations()} == {"local"}
        # Only a call that may go to Bedrock is translated to Converse: an image by URL (Bedrock
        # takes data URLs only) passes to the OpenAI-compatible upstream, and is refused for a
        # Bedrock model with the message named, before it counts against the tenant's limits.
        image = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                              {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]
        assert lab.chat.completions.create(model="local-llama", messages=image).choices[0].message.content
        with pytest.raises(openai.BadRequestError) as e:
            lab.chat.completions.create(model="nova", messages=image)
        assert e.value.body["param"] == "messages[0]" and "data URL" in e.value.body["message"], e.value.body
        assert {i["region"] for i in sim.invocations()} == {"local"}
        # Where a self-hosted server runs is unknown, so a residency-bound tenant never reaches it.
        us = client(g)
        with pytest.raises(openai.PermissionDeniedError):
            us.chat.completions.create(model="local-llama", messages=[{"role": "user", "content": "hi"}])
        # Upstream throttling comes back as OpenAI's 429 once retries are spent.
        sim.add_fault(kind="throttle", model="meta.llama3-3-70b-instruct-v1:0", region="local")
        with pytest.raises(openai.RateLimitError):
            lab.chat.completions.create(model="local-llama", messages=[{"role": "user", "content": "hi"}])
    finally:
        g.stop()


def test_bad_input_never_breaks_the_gateway(gw):
    import socket

    import requests
    url = gw.endpoint + "/v1/chat/completions"
    auth = {"Authorization": "Bearer sk-test-us-000001", "content-type": "application/json"}
    # A slow client holding a half-sent request does not block anyone else.
    slow = socket.create_connection(("127.0.0.1", gw.port))
    slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    cases = [
        (b"{not json", 400),
        (b'{"model": 5, "messages": []}', 400),
        (b'{"model": "claude", "messages": "hi"}', 400),
        (b'{"model": "claude", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "many"}', 400),
        (b"[1,2,3]", 400),
    ]
    for body, status in cases:
        r = requests.post(url, data=body, headers=auth, timeout=10)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["message"]
    huge = b'{"model":"claude","messages":[{"role":"user","content":"' + b"x" * (21 * 1024 * 1024) + b'"}]}'
    r = requests.post(url, data=huge, headers=auth, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
    r = requests.post(url, json={"model": "claude", "messages": [{"role": "user", "content": "still fine?"}]}, headers=auth, timeout=10)
    assert r.status_code == 200 and r.headers["x-request-id"]
    slow.close()
