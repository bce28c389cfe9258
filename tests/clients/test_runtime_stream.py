"""bedrock-runtime ConverseStream (application/vnd.amazon.eventstream) through boto3."""

from __future__ import annotations

import json

import pytest

from simlib import text_of, user

PROMPT = "Write a short note about event streams and their framing."

TOOL = {
    "toolSpec": {
        "name": "lookup_order",
        "description": "Look an order up",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string"},
                    "quantity": {"type": "integer"},
                    "express": {"type": "boolean"},
                    "channel": {"type": "string", "enum": ["web", "store"]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["order_id", "quantity", "express", "channel"],
            }
        },
    }
}


@pytest.fixture(params=["in_region", "profile"])
def call(request, fleet):
    a = fleet.accounts[0]
    calls = fleet.in_region_calls(a) if request.param == "in_region" else fleet.profile_calls(a)
    streaming = [c for c in calls if c.foundation_model["streaming"]]
    if not streaming:
        pytest.skip(f"no streaming {request.param} call for the first account")
    return streaming[0]


@pytest.fixture
def rt(runtime, fleet, call):
    return runtime(fleet.accounts[0], call.region)


def _events(resp):
    out = []
    for event in resp["stream"]:
        assert len(event) == 1, event  # one member per event
        out.append(event)
    return out


def _kind(e):
    return next(iter(e))


def test_event_order_and_text_equals_converse(rt, call):
    kw = {"modelId": call.model_id, "messages": [user(PROMPT)]}
    resp = rt.converse_stream(**kw)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = _events(resp)
    kinds = [_kind(e) for e in events]

    assert kinds[0] == "messageStart"
    assert events[0]["messageStart"]["role"] == "assistant"
    assert kinds[-2:] == ["messageStop", "metadata"]
    middle = kinds[1:-2]
    assert middle[-1] == "contentBlockStop"
    assert "contentBlockDelta" in middle
    first_stop = middle.index("contentBlockStop")
    assert all(k in ("contentBlockStart", "contentBlockDelta") for k in middle[:first_stop])
    assert all(k in ("contentBlockStart", "contentBlockDelta", "contentBlockStop") for k in middle)

    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    whole = rt.converse(**kw)
    assert text == text_of(whole)
    assert events[-2]["messageStop"]["stopReason"] == whole["stopReason"]
    usage = events[-1]["metadata"]["usage"]
    assert usage["inputTokens"] == whole["usage"]["inputTokens"]
    assert usage["outputTokens"] == whole["usage"]["outputTokens"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert events[-1]["metadata"]["metrics"]["latencyMs"] >= 0
    deltas = [e["contentBlockDelta"] for e in events if "contentBlockDelta" in e]
    assert len(deltas) >= 2, "a multi-word answer should arrive in more than one delta"
    assert all(d["contentBlockIndex"] == 0 for d in deltas)


def test_stream_max_tokens(rt, call):
    resp = rt.converse_stream(
        modelId=call.model_id, messages=[user(PROMPT)], inferenceConfig={"maxTokens": 2}
    )
    events = _events(resp)
    stop = next(e["messageStop"] for e in events if "messageStop" in e)
    assert stop["stopReason"] == "max_tokens"
    meta = next(e["metadata"] for e in events if "metadata" in e)
    assert meta["usage"]["outputTokens"] <= 2
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert len(text.split()) <= 2


def test_tool_use_stream(rt, call):
    kw = {
        "modelId": call.model_id,
        "messages": [user("Where is my order?")],
        "toolConfig": {"tools": [TOOL], "toolChoice": {"any": {}}},
    }
    events = _events(rt.converse_stream(**kw))
    kinds = [_kind(e) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]

    starts = [e["contentBlockStart"] for e in events if "contentBlockStart" in e]
    assert len(starts) == 1
    tool_start = starts[0]["start"]["toolUse"]
    assert tool_start["name"] == "lookup_order"
    assert tool_start["toolUseId"]
    index = starts[0]["contentBlockIndex"]

    start_at = kinds.index("contentBlockStart")
    pieces = []
    for e in events[start_at + 1:]:
        if "contentBlockStop" in e:
            assert e["contentBlockStop"]["contentBlockIndex"] == index
            break
        d = e["contentBlockDelta"]
        assert d["contentBlockIndex"] == index
        pieces.append(d["delta"]["toolUse"]["input"])
    else:
        pytest.fail("no contentBlockStop after the toolUse start")
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert len(pieces) >= 2, "tool input should be streamed as several partial JSON strings"
    data = json.loads("".join(pieces))
    assert set(data) >= {"order_id", "quantity", "express", "channel"}
    assert isinstance(data["order_id"], str)
    assert isinstance(data["quantity"], int) and not isinstance(data["quantity"], bool)
    assert isinstance(data["express"], bool)
    assert data["channel"] == "web"
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"

    whole = rt.converse(**kw)
    tu = next(b["toolUse"] for b in whole["output"]["message"]["content"] if "toolUse" in b)
    assert tu["input"] == data
    assert tu["toolUseId"] == tool_start["toolUseId"]


def test_stream_is_recorded_in_stats(sim, fleet, rt, call):
    _events(rt.converse_stream(modelId=call.model_id, messages=[user(PROMPT)]))
    rows = sim.invocations(account=fleet.accounts[0]["id"], operation="ConverseStream")
    assert len(rows) == 1 and rows[0]["count"] == 1 and rows[0]["status"] == 200
    assert rows[0]["source_region"] == call.region
    if call.profile:
        assert rows[0]["region"] in call.profile["destinations"]
    else:
        assert rows[0]["region"] == call.region
