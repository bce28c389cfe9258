"""The OpenAI Responses API (`POST /v1/responses`, stateless) driven by the real, unmodified
`openai` SDK against `strata demo`: output_text, instructions, multi-turn input items, both
streaming styles, a function tool round trip, text.format json_schema, max_output_tokens ->
incomplete, errors in OpenAI's shape, a mid-stream failure, and EU residency (the emulator's
stats)."""

from __future__ import annotations

import json

import openai
import pytest
import requests
from openai import OpenAI

from gatewaylib import Demo

EU = {"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"}
WEATHER = {"type": "function", "name": "get_weather", "description": "The weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo"))
    yield {"gateway": f"http://127.0.0.1:{d.gw}", "sim": f"http://127.0.0.1:{d.sim}"}
    d.stop()


def client(demo, key="sk-demo-us") -> OpenAI:
    return OpenAI(base_url=demo["gateway"] + "/v1", api_key=key, max_retries=0, timeout=20)


def sim_rows(demo):
    return requests.get(demo["sim"] + "/_sim/stats", timeout=10).json()["invocations"]


def test_text_with_instructions(demo):
    c = client(demo)
    raw = c.responses.with_raw_response.create(model="claude-sonnet-4", input="hello", instructions="Be brief.",
                                               max_output_tokens=200, store=True, metadata={"k": "v"}, user="u1")
    r = raw.parse()
    assert r.object == "response" and r.status == "completed" and r.model == "claude-sonnet-4"
    assert r.id.startswith("resp_") and r.id[5:] == raw.headers["x-request-id"].replace("-", "")
    assert r.output_text
    assert r.output[0].type == "message" and r.output[0].role == "assistant" and r.output[0].id.startswith("msg_")
    assert r.output[0].content[0].type == "output_text" and r.output[0].content[0].annotations == []
    assert r.instructions == "Be brief." and r.metadata == {"k": "v"} and r.error is None
    assert r.incomplete_details is None
    u = r.usage
    assert u.input_tokens > 0 and u.output_tokens > 0 and u.total_tokens == u.input_tokens + u.output_tokens
    assert u.input_tokens_details.cached_tokens == 0 and u.output_tokens_details.reasoning_tokens == 0
    # Nothing is stored: fetching it again is a clear 404.
    with pytest.raises(openai.NotFoundError) as e:
        c.responses.retrieve(r.id)
    assert "stateless" in e.value.message


def test_multi_turn_input_items(demo):
    c = client(demo)
    first = c.responses.create(model="claude-haiku", input=[{"role": "user", "content": "hello"}])
    follow = c.responses.create(model="claude-haiku", input=[
        {"role": "developer", "content": "Answer in one line."},
        {"role": "user", "content": [{"type": "input_text", "text": "hello"}]},
        *[o.model_dump(exclude_none=True) for o in first.output],
        {"type": "message", "role": "user", "content": "and again"},
    ])
    assert follow.status == "completed" and follow.output_text
    # The emulator's Converse saw three turns and the system text.
    assert follow.usage.input_tokens > first.usage.input_tokens


def test_max_output_tokens_is_incomplete(demo):
    r = client(demo).responses.create(model="claude-sonnet-4", input="hello", max_output_tokens=3)
    assert r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens"
    assert r.usage.output_tokens == 3 and r.max_output_tokens == 3


def test_raw_stream_events_in_order(demo):
    c = client(demo)
    events = list(c.responses.create(model="claude-sonnet-4", input="hello", stream=True))
    types = [e.type for e in events]
    assert types[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta"]
    assert types[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = events[-1].response
    assert done.status == "completed" and done.output_text == text and text
    assert done.usage.output_tokens > 0 and done.id == events[0].response.id


def test_stream_helper_assembles_the_final_response(demo):
    c = client(demo)
    with c.responses.stream(model="claude-sonnet-4", input="hello", instructions="Be brief.") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas) and final.output_text
    assert final.usage.input_tokens > 0
    # A limit ends the stream with response.incomplete.
    events = list(c.responses.create(model="claude-sonnet-4", input="hello", max_output_tokens=3, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


def test_function_tool_round_trip(demo):
    c = client(demo)
    ask = [{"role": "user", "content": "What is the weather in Oslo?"}]
    first = c.responses.create(model="claude-sonnet-4", input=ask, tools=[WEATHER], tool_choice="required")
    call = next(o for o in first.output if o.type == "function_call")
    assert call.name == "get_weather" and call.call_id and call.id.startswith("fc_") and call.status == "completed"
    assert "city" in json.loads(call.arguments)
    follow = c.responses.create(model="claude-sonnet-4", tools=[WEATHER], input=ask + [
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "Cold, -3 C"}])
    assert follow.status == "completed" and follow.output_text
    # Named, and streamed: the arguments arrive as deltas the helper assembles.
    with c.responses.stream(model="claude-sonnet-4", input=ask, tools=[WEATHER],
                            tool_choice={"type": "function", "name": "get_weather"}) as stream:
        partial = "".join(e.delta for e in stream if e.type == "response.function_call_arguments.delta")
        final = stream.get_final_response()
    streamed = next(o for o in final.output if o.type == "function_call")
    assert json.loads(partial) == json.loads(streamed.arguments) and "city" in json.loads(partial)


def test_text_format_json_schema(demo):
    c = client(demo)
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
              "required": ["city", "population"], "additionalProperties": False}
    fmt = {"format": {"type": "json_schema", "name": "place", "schema": schema, "strict": True}}
    r = c.responses.create(model="claude-sonnet-4", input="The largest city in France?", text=fmt)
    answer = json.loads(r.output_text)
    assert isinstance(answer["city"], str) and isinstance(answer["population"], int)
    assert [o.type for o in r.output] == ["message"] and r.text.format.type == "json_schema"
    with c.responses.stream(model="claude-sonnet-4", input="The largest city in France?", text=fmt) as stream:
        final = stream.get_final_response()
    assert set(json.loads(final.output_text)) == {"city", "population"}


def test_errors_in_openai_shape(demo):
    c = client(demo)
    with pytest.raises(openai.AuthenticationError):
        client(demo, "sk-wrong").responses.create(model="claude-sonnet-4", input="hi")
    with pytest.raises(openai.NotFoundError) as e:
        c.responses.create(model="no-such-model", input="hi")
    assert e.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="claude-sonnet-4", input="hi", previous_response_id="resp_123")
    assert e.value.param == "previous_response_id" and "stateless" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="claude-sonnet-4", input="hi", tools=[{"type": "web_search"}])
    assert e.value.param == "tools[0].type" and "web_search" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="claude-sonnet-4", input="hi", reasoning={"effort": "high"})
    assert e.value.param == "reasoning"
    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model="claude-sonnet-4", input=[
            {"role": "user", "content": [{"type": "input_image", "image_url": "https://example.com/a.png"}]}])
    assert e.value.param == "input[0]" and "data URL" in e.value.message
    r = requests.post(demo["gateway"] + "/v1/responses", data=b"{not json",
                      headers={"authorization": "Bearer sk-demo-us"}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_a_mid_stream_failure_ends_with_response_failed(demo):
    requests.post(demo["sim"] + "/_sim/faults", json={"kind": "stream_cut", "after_events": 3, "mode": "drop", "count": 1},
                  timeout=10).raise_for_status()
    events = list(client(demo).responses.create(model="claude-sonnet-4", input="hello", stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and "response.completed" not in types
    assert types[-2:] == ["error", "response.failed"]
    assert events[-2].message and events[-1].response.status == "failed"
    assert events[-1].response.error.message == events[-2].message


def test_an_eu_tenant_runs_only_in_the_eu(demo):
    requests.post(demo["sim"] + "/_sim/reset", timeout=10).raise_for_status()
    c = client(demo, "sk-demo-eu")
    for model in ["claude-sonnet-4", "claude-haiku", "nova-pro"]:
        assert c.responses.create(model=model, input="hi", max_output_tokens=5).output_text
    # (Unlimited: a stream cut short by a limit ends with response.incomplete, which the helper,
    # like OpenAI's own, does not take as a final response.)
    with c.responses.stream(model="claude-haiku", input="hi") as stream:
        assert stream.get_final_response().output_text
    rows = sim_rows(demo)
    assert len(rows) >= 4 and {r["region"] for r in rows} <= EU, rows
    assert {"Converse", "ConverseStream"} <= {r.get("operation") for r in rows}
