"""The emulator's OpenAI-compatible mode (a vLLM-like upstream), driven by the real `openai`
client: answers, SSE streaming with usage, tool calls, errors and faults."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

MODEL = "meta.llama3-3-70b-instruct-v1:0"


@pytest.fixture
def client(sim, fleet):
    key = next(k["token"] for a in fleet.accounts for k in a.get("api_keys", []))
    return OpenAI(base_url=sim.endpoint + "/v1", api_key=key, max_retries=0, timeout=15)


def test_chat_stream_and_usage_agree(client):
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    text = r.choices[0].message.content
    assert text and r.choices[0].finish_reason == "stop"
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    short = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=3)
    assert short.usage.completion_tokens == 3 and short.choices[0].finish_reason == "length"


def test_forced_tool_call(client):
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {
        "type": "object", "required": ["q", "n"], "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}}}}]
    r = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "find"}], tools=tools,
                                       tool_choice="required")
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "lookup"
    import json
    assert set(json.loads(call.function.arguments)) == {"q", "n"}


def test_errors_and_faults(sim, client):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[])
    bad = OpenAI(base_url=sim.endpoint + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    sim.add_fault(kind="throttle", model=MODEL, count=1)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    sim.add_fault(kind="outage", region="local", count=1)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}]).choices
    rows = sim.invocations()
    assert {r["region"] for r in rows} == {"local"}
