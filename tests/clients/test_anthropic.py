"""The Anthropic Messages API (`/v1/messages`, `/v1/messages/count_tokens`) driven by the real,
unmodified `anthropic` SDK against `strata demo`: answers, both streaming styles, system prompts,
multi-turn, images, tools both ways, stop sequences, top_k, prompt caching, count_tokens, errors
in Anthropic's shape, and EU residency (the emulator's stats)."""

from __future__ import annotations

import json

import anthropic
import pytest
import requests
from anthropic import Anthropic

from gatewaylib import Demo, gateways, static_account

EU = {"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"}
# A 1×1 PNG.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER = {"name": "get_weather", "description": "The weather in a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo"))
    yield {"gateway": f"http://127.0.0.1:{d.gw}", "sim": f"http://127.0.0.1:{d.sim}"}
    d.stop()


def client(demo, key="sk-demo-us", **kw) -> Anthropic:
    return Anthropic(base_url=demo["gateway"], api_key=key, max_retries=0, timeout=20, **kw)


def sim_rows(demo):
    return requests.get(demo["sim"] + "/_sim/stats", timeout=10).json()["invocations"]


def test_a_message_with_system_and_several_turns(demo):
    c = client(demo)
    raw = c.messages.with_raw_response.create(
        model="claude-sonnet-4", max_tokens=200, system="Be brief.",
        messages=[{"role": "user", "content": "hello"},
                  {"role": "assistant", "content": "Hi. What do you need?"},
                  {"role": "user", "content": [{"type": "text", "text": "a poem"}]}])
    m = raw.parse()
    assert m.type == "message" and m.role == "assistant" and m.model == "claude-sonnet-4"
    assert m.id.startswith("msg_")
    assert m.content[0].type == "text" and m.content[0].text
    assert m.stop_reason == "end_turn" and m.stop_sequence is None
    assert m.usage.input_tokens > 0 and m.usage.output_tokens > 0
    assert m.usage.cache_read_input_tokens == 0 and m.usage.cache_creation_input_tokens == 0
    assert raw.headers["request-id"] == raw.headers["x-request-id"] == m._request_id
    assert raw.headers["x-strata-route"]
    # max_tokens is honoured.
    short = c.messages.create(model="claude-sonnet-4", max_tokens=3, messages=[{"role": "user", "content": "hello"}])
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 3


def test_streams_agree_with_the_complete_answer(demo):
    c = client(demo)
    kw = dict(model="claude-sonnet-4", max_tokens=100, system=[{"type": "text", "text": "Be brief."}],
              messages=[{"role": "user", "content": "tell me about regions"}])
    plain = c.messages.create(**kw)
    with c.messages.stream(**kw) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == plain.content[0].text
    assert final.content[0].text == text and final.stop_reason == "end_turn"
    # Converse reports usage at the end: message_delta carries it, and the SDK keeps it.
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.usage.output_tokens == plain.usage.output_tokens

    events = list(c.messages.create(stream=True, **kw))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds[1] == "content_block_start" and "content_block_stop" in kinds
    assert events[0].message.id.startswith("msg_") and events[0].message.content == []
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert "".join(deltas) == text
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == plain.usage.output_tokens


def test_an_image_is_read(demo):
    c = client(demo)
    content = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
               {"type": "text", "text": "what is this?"}]
    with_image = c.messages.create(model="claude-sonnet-4", max_tokens=20, messages=[{"role": "user", "content": content}])
    without = c.messages.create(model="claude-sonnet-4", max_tokens=20,
                                messages=[{"role": "user", "content": "what is this?"}])
    assert with_image.content[0].text
    assert with_image.usage.input_tokens > without.usage.input_tokens
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="claude-sonnet-4", max_tokens=20, messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}]}])
    assert "messages[0].content[0].source" in e.value.message


def test_tools_round_trip(demo):
    c = client(demo)
    ask = [{"role": "user", "content": "What is the weather in Oslo?"}]
    first = c.messages.create(model="claude-sonnet-4", max_tokens=200, tools=[WEATHER],
                              tool_choice={"type": "any"}, messages=ask)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and isinstance(use.input, dict) and "city" in use.input
    follow = c.messages.create(model="claude-sonnet-4", max_tokens=200, tools=[WEATHER], messages=ask + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "Cold, -3 C"}]}])
    assert follow.stop_reason == "end_turn" and follow.content[0].type == "text" and follow.content[0].text
    failed = c.messages.create(model="claude-sonnet-4", max_tokens=200, tools=[WEATHER], messages=ask + [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "is_error": True,
                                      "content": [{"type": "text", "text": "service down"}]}]}])
    assert failed.content

    named = c.messages.create(model="claude-sonnet-4", max_tokens=200, tools=[WEATHER],
                              tool_choice={"type": "tool", "name": "get_weather"}, messages=ask)
    assert named.content[-1].type == "tool_use" and named.content[-1].name == "get_weather"
    # Streamed, the input arrives as input_json_delta pieces the SDK assembles.
    with c.messages.stream(model="claude-sonnet-4", max_tokens=200, tools=[WEATHER],
                           tool_choice={"type": "tool", "name": "get_weather"}, messages=ask) as stream:
        partial = "".join(e.delta.partial_json for e in stream
                          if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
        final = stream.get_final_message()
    assert json.loads(partial) == final.content[-1].input and "city" in final.content[-1].input
    assert final.stop_reason == "tool_use"


def test_stop_sequences_and_top_k(demo):
    c = client(demo)
    msgs = [{"role": "user", "content": "hello"}]
    text = c.messages.create(model="claude-haiku", max_tokens=60, messages=msgs).content[0].text
    third = text.split()[2].strip(".")
    cut = c.messages.create(model="claude-haiku", max_tokens=60, stop_sequences=[third], messages=msgs)
    assert cut.stop_reason == "stop_sequence" and cut.stop_sequence == third
    assert third not in cut.content[0].text
    # Sampling options through extra_body: recent SDKs no longer list them as parameters.
    sampling = {"top_k": 5, "temperature": 0.2, "top_p": 0.9}
    assert c.messages.create(model="claude-haiku", max_tokens=10, extra_body=sampling,
                             metadata={"user_id": "user-1"}, messages=msgs).content
    thinking = {"type": "enabled", "budget_tokens": 1024}
    assert c.messages.create(model="claude-haiku", max_tokens=2000, thinking=thinking, messages=msgs).content
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="amazon.nova-pro-v1:0", max_tokens=2000, thinking=thinking, messages=msgs)
    assert "thinking" in e.value.message
    # Converse has no top_k: a concrete non-Anthropic model is refused by name, never ignored.
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="amazon.nova-pro-v1:0", max_tokens=10, extra_body={"top_k": 5}, messages=msgs)
    assert "top_k" in e.value.message


def test_cache_control_is_accepted_everywhere_and_usage_reports_cache_fields(demo):
    c = client(demo)
    system = [{"type": "text", "text": "You know a great deal about regions. " * 50, "cache_control": {"type": "ephemeral"}}]
    tool = dict(WEATHER, cache_control={"type": "ephemeral"})
    messages = [{"role": "user", "content": [{"type": "text", "text": "a long document " * 40,
                                              "cache_control": {"type": "ephemeral", "ttl": "1h"}},
                                             {"type": "text", "text": "summarise it"}]}]
    answers = [c.messages.create(model="claude-sonnet-4", max_tokens=20, system=system, tools=[tool], messages=messages)
               for _ in range(2)]
    # Top-level cache_control marks the last block (recent SDKs have it as a parameter).
    answers.append(c.messages.create(model="claude-sonnet-4", max_tokens=20, messages=[{"role": "user", "content": "hi"}],
                                     extra_body={"cache_control": {"type": "ephemeral"}}))
    for m in answers:
        assert m.content and m.usage.input_tokens > 0
        assert isinstance(m.usage.cache_read_input_tokens, int) and isinstance(m.usage.cache_creation_input_tokens, int)


def test_count_tokens(demo):
    c = client(demo)
    kw = dict(model="claude-sonnet-4", system="Be brief.", messages=[{"role": "user", "content": "hello there"}])
    counted = c.messages.count_tokens(**kw)
    answered = c.messages.create(max_tokens=5, **kw)
    assert counted.input_tokens == answered.usage.input_tokens > 0
    with_tools = c.messages.count_tokens(tools=[WEATHER], **kw)
    assert with_tools.input_tokens > counted.input_tokens
    with pytest.raises(anthropic.NotFoundError):
        c.messages.count_tokens(model="no-such-model", messages=[{"role": "user", "content": "x"}])


def test_errors_in_anthropics_shape(demo):
    c = client(demo)
    msgs = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(demo, "sk-not-a-key").messages.create(model="claude-sonnet-4", max_tokens=5, messages=msgs)
    assert e.value.body["type"] == "error" and e.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="claude-sonnet-4", max_tokens=anthropic.NOT_GIVEN, messages=msgs)
    assert e.value.body["error"]["type"] == "invalid_request_error" and "max_tokens" in e.value.message
    with pytest.raises(anthropic.BadRequestError) as e:
        c.messages.create(model="claude-sonnet-4", max_tokens=5, messages=msgs, extra_body={"frequency_penalty": 1})
    assert "frequency_penalty" in e.value.message
    with pytest.raises(anthropic.NotFoundError) as e:
        c.messages.create(model="no-such-model", max_tokens=5, messages=msgs)
    assert e.value.body["error"]["type"] == "not_found_error"
    assert e.value.response.headers["request-id"]
    # The EU tenant is not granted llama-70b.
    with pytest.raises(anthropic.APIStatusError) as e:
        client(demo, "sk-demo-eu").messages.create(model="llama-70b", max_tokens=5, messages=msgs)
    assert e.value.status_code in (403, 404) and e.value.body["type"] == "error"
    # The SDK's x-api-key and a Bearer header both authenticate.
    bearer = Anthropic(base_url=demo["gateway"], auth_token="sk-demo-us", max_retries=0)
    assert bearer.messages.create(model="claude-sonnet-4", max_tokens=5, messages=msgs).content
    # Unknown paths and methods under /v1/messages answer in Anthropic's shape too.
    r = requests.post(demo["gateway"] + "/v1/messages/batches", json={}, headers={"x-api-key": "sk-demo-us"}, timeout=10)
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = requests.get(demo["gateway"] + "/v1/messages", headers={"x-api-key": "sk-demo-us"}, timeout=10)
    assert r.status_code == 405 and r.json()["type"] == "error"
    r = requests.post(demo["gateway"] + "/v1/messages", data=b"{not json", headers={"x-api-key": "sk-demo-us"},
                      timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    # Refused by the edge before the body is read (over 20 MiB), still in Anthropic's shape.
    r = requests.post(demo["gateway"] + "/v1/messages", headers={"x-api-key": "sk-demo-us", "content-length": str(21 << 20)},
                      data=b"", timeout=10)
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"


def test_a_mid_stream_failure_ends_with_an_error_event(demo):
    requests.post(demo["sim"] + "/_sim/faults", json={"kind": "stream_cut", "after_events": 3, "mode": "drop", "count": 1},
                  timeout=10).raise_for_status()
    c = client(demo)
    got = []
    with pytest.raises(anthropic.APIStatusError) as e:
        for event in c.messages.create(model="claude-sonnet-4", max_tokens=100, stream=True,
                                       messages=[{"role": "user", "content": "hello"}]):
            got.append(event.type)
    assert got and got[0] == "message_start" and "message_stop" not in got
    assert e.value.body["type"] == "error" and e.value.body["error"]["message"]


def test_an_eu_tenant_runs_only_in_the_eu(demo):
    requests.post(demo["sim"] + "/_sim/reset", timeout=10).raise_for_status()
    c = client(demo, "sk-demo-eu")
    msgs = [{"role": "user", "content": "hi"}]
    for model in ["claude-sonnet-4", "claude-sonnet-4-5", "claude-haiku", "nova-pro"]:
        assert c.messages.create(model=model, max_tokens=5, messages=msgs).content
    with c.messages.stream(model="claude-haiku", max_tokens=5, messages=msgs) as stream:
        assert stream.get_final_message().content
    assert c.messages.count_tokens(model="claude-sonnet-4", messages=msgs).input_tokens > 0
    rows = sim_rows(demo)
    assert len(rows) >= 6 and {r["region"] for r in rows} <= EU, rows
    ops = {r.get("operation") for r in rows}
    assert {"Converse", "ConverseStream", "CountTokens"} <= ops, ops


# ---- limits: a gateway of its own, with a tenant at one request a minute ----------------------

@pytest.fixture
def limited(sim, tmp_path, monkeypatch):
    f = sim.fleet
    text = f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}models:
  - name: claude
    deployments:
      - {{account: prod-us, region: us-east-1, model: us.anthropic.claude-sonnet-4-5-20250929-v1:0}}
tenants:
  - {{name: slow, keys: [sk-test-slow-00001], residency: [us], rpm: 1}}
"""
    yield from gateways(tmp_path, monkeypatch, lambda: text)


def test_a_rate_limited_tenant_gets_a_rate_limit_error(limited):
    g = limited()
    c = Anthropic(base_url=g.endpoint, api_key="sk-test-slow-00001", max_retries=0, timeout=20)
    msgs = [{"role": "user", "content": "hi"}]
    ok = c.messages.with_raw_response.create(model="claude", max_tokens=5, messages=msgs)
    assert ok.parse().content
    assert ok.headers["anthropic-ratelimit-requests-limit"] == "1"
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "0"
    with pytest.raises(anthropic.RateLimitError) as e:
        c.messages.create(model="claude", max_tokens=5, messages=msgs)
    assert e.value.body["error"]["type"] == "rate_limit_error"
    assert int(e.value.response.headers["retry-after"]) >= 1


def test_openai_compatible_upstreams_are_skipped_with_a_reason(sim, fleet, tmp_path, monkeypatch):
    """Anthropic requests are not translated for OpenAI-compatible providers: a model served only
    by one is refused in words, never sent a body it cannot read."""
    key = next(k["token"] for a in fleet.accounts for k in a.get("api_keys", []))
    text = f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(sim.fleet, "prod-us")}providers:
  - {{name: local-vllm, type: openai, base_url: "{sim.endpoint}/v1", api_key: "{key}"}}
models:
  - name: local-llama
    deployments:
      - {{provider: local-vllm, model: meta.llama3-3-70b-instruct-v1:0}}
tenants:
  - {{name: lab, keys: [sk-test-any-00001], residency: [any], route_detail: full}}
"""
    for start in gateways(tmp_path, monkeypatch, lambda: text):
        g = start()
        c = Anthropic(base_url=g.endpoint, api_key="sk-test-any-00001", max_retries=0, timeout=20)
        sim.reset()
        with pytest.raises(anthropic.APIStatusError) as e:
            c.messages.create(model="local-llama", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        assert e.value.body["type"] == "error" and "local-vllm" in e.value.message, e.value.body
        assert not sim.invocations()


def test_a_repeated_cached_prefix_is_read_from_the_cache(sim, tmp_path):
    """One in-region deployment, so both requests meet the same cache (a profile may run each in
    another region, whose cache is its own, as on AWS)."""
    from gatewaylib import Gateway
    from simlib import find_binary
    from test_gateway_bedrock import config

    g = Gateway(find_binary(), config(sim), tmp_path)
    try:
        c = Anthropic(base_url=g.endpoint, api_key="sk-test-us-000001", max_retries=0, timeout=20)
        system = [{"type": "text", "text": "You know a great deal about regions. " * 50,
                   "cache_control": {"type": "ephemeral"}}]
        ask = dict(model="nova", max_tokens=20, system=system, messages=[{"role": "user", "content": "hello"}])
        first = c.messages.create(**ask).usage
        second = c.messages.create(**ask).usage
        assert first.cache_creation_input_tokens > 0 and first.cache_read_input_tokens == 0
        assert second.cache_read_input_tokens == first.cache_creation_input_tokens
        assert second.cache_creation_input_tokens == 0 and second.input_tokens == first.input_tokens
        with c.messages.stream(**ask) as s:
            final = s.get_final_message()
        assert final.usage.cache_read_input_tokens == first.cache_creation_input_tokens
    finally:
        g.stop()


def test_models_list_in_anthropics_shape(demo):
    ids = [m.id for m in client(demo, key="sk-demo-eu").models.list()]
    assert "claude-sonnet-4" in ids and "llama-70b" not in ids  # the EU tenant's models only
    with pytest.raises(anthropic.AuthenticationError):
        list(client(demo, key="sk-nope").models.list())
