"""bedrock-runtime Converse through the real boto3 client."""

from __future__ import annotations

import math
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from simlib import error_code, status_of, text_of, user

PROMPT = "Explain cross-region inference in one paragraph, please."


@pytest.fixture
def call(fleet):
    """Something callable for the first account: an in-region model if any, else a profile."""
    c = fleet.any_call(fleet.accounts[0])
    assert c is not None, "the first fleet account can call nothing"
    return c


@pytest.fixture
def rt(runtime, fleet, call):
    return runtime(fleet.accounts[0], call.region)


def _converse(rt, call, text=PROMPT, **kw):
    return rt.converse(modelId=call.model_id, messages=[user(text)], **kw)


def test_text_answer_and_usage(rt, call):
    resp = _converse(rt, call)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    msg = resp["output"]["message"]
    assert msg["role"] == "assistant"
    text = text_of(resp)
    assert text.strip()
    assert resp["stopReason"] == "end_turn"
    u = resp["usage"]
    assert u["inputTokens"] > 0 and u["outputTokens"] > 0
    assert u["totalTokens"] == u["inputTokens"] + u["outputTokens"]
    # one word is one token
    assert u["outputTokens"] == len(text.split())
    assert resp["metrics"]["latencyMs"] >= 0
    assert resp["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")


def test_input_token_count_rule(rt, call):
    # ceil(chars / 4) per text block plus 4 per message
    blocks = ["a" * 10, "b" * 13, "c" * 1]
    messages = [
        {"role": "user", "content": [{"text": blocks[0]}, {"text": blocks[1]}]},
        {"role": "assistant", "content": [{"text": "ok"}]},
        {"role": "user", "content": [{"text": blocks[2]}]},
    ]
    resp = rt.converse(modelId=call.model_id, messages=messages)
    want = sum(math.ceil(len(t) / 4) for t in blocks + ["ok"]) + 4 * len(messages)
    assert resp["usage"]["inputTokens"] == want


def test_max_tokens_is_honoured(rt, call):
    small = _converse(rt, call, inferenceConfig={"maxTokens": 3})
    assert small["usage"]["outputTokens"] <= 3
    assert small["stopReason"] == "max_tokens"
    assert len(text_of(small).split()) <= 3

    big = _converse(rt, call, inferenceConfig={"maxTokens": 500})
    assert big["usage"]["outputTokens"] <= 500
    # the cut answer is the beginning of the full one
    full = text_of(_converse(rt, call))
    assert full.split()[:3] == text_of(small).split()


def test_deterministic(rt, call):
    a = _converse(rt, call)
    b = _converse(rt, call)
    assert text_of(a) == text_of(b)
    assert a["usage"] == b["usage"]
    others = {text_of(_converse(rt, call, text=f"question number {i}")) for i in range(6)}
    assert len(others) > 1, "different prompts should not all get the same answer"


def test_stop_sequence(rt, call):
    full = text_of(_converse(rt, call))
    words = full.split()
    assert len(words) >= 4
    stop = words[2].strip(".").lower()
    cut = full.find(stop)
    assert cut >= 0
    resp = _converse(rt, call, inferenceConfig={"stopSequences": [stop]})
    assert resp["stopReason"] == "stop_sequence"
    got = text_of(resp)
    assert stop not in got
    assert got.rstrip() == full[:cut].rstrip()


def test_system_prompt(rt, call):
    plain = _converse(rt, call)
    system = "You are a terse assistant who answers about AWS Bedrock only."
    with_sys = _converse(rt, call, system=[{"text": system}])
    assert text_of(with_sys).strip()
    assert with_sys["usage"]["inputTokens"] == plain["usage"]["inputTokens"] + math.ceil(len(system) / 4)


WEATHER_TOOL = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather forecast for a city",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                    "hourly": {"type": "boolean"},
                    "threshold": {"type": "number"},
                    "note": {"type": "string"},
                },
                "required": ["city", "days", "unit", "hourly", "threshold"],
            }
        },
    }
}
TIME_TOOL = {
    "toolSpec": {
        "name": "get_time",
        "description": "Current time in a timezone",
        "inputSchema": {
            "json": {
                "type": "object",
                "properties": {"tz": {"type": "string"}},
                "required": ["tz"],
            }
        },
    }
}


def _check_weather_input(inp):
    assert set(inp) >= {"city", "days", "unit", "hourly", "threshold"}
    assert isinstance(inp["city"], str)
    assert isinstance(inp["days"], int) and not isinstance(inp["days"], bool)
    assert inp["unit"] == "celsius"  # enum → first value
    assert isinstance(inp["hourly"], bool)
    assert isinstance(inp["threshold"], (int, float)) and not isinstance(inp["threshold"], bool)


def _tool_use(resp):
    blocks = [b["toolUse"] for b in resp["output"]["message"]["content"] if "toolUse" in b]
    assert len(blocks) == 1, resp["output"]
    return blocks[0]


def test_forced_tool_use_any(rt, call):
    resp = _converse(
        rt, call, "What's up?",
        toolConfig={"tools": [WEATHER_TOOL, TIME_TOOL], "toolChoice": {"any": {}}},
    )
    assert resp["stopReason"] == "tool_use"
    tu = _tool_use(resp)
    assert tu["toolUseId"]
    assert tu["name"] in ("get_weather", "get_time")
    if tu["name"] == "get_weather":
        _check_weather_input(tu["input"])
    else:
        assert isinstance(tu["input"]["tz"], str)


def test_forced_tool_use_named_tool_and_result_follow_up(rt, call):
    messages = [user("What's the weather like in Paris?")]
    tool_config = {"tools": [TIME_TOOL, WEATHER_TOOL], "toolChoice": {"tool": {"name": "get_weather"}}}
    resp = rt.converse(modelId=call.model_id, messages=messages, toolConfig=tool_config)
    assert resp["stopReason"] == "tool_use"
    tu = _tool_use(resp)
    assert tu["name"] == "get_weather"
    _check_weather_input(tu["input"])

    messages.append(resp["output"]["message"])
    messages.append(
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": tu["toolUseId"],
                        "content": [{"json": {"forecast": "sunny", "high": 24}}],
                        "status": "success",
                    }
                }
            ],
        }
    )
    follow = rt.converse(
        modelId=call.model_id, messages=messages, toolConfig={"tools": [TIME_TOOL, WEATHER_TOOL]}
    )
    assert follow["stopReason"] in ("end_turn", "max_tokens")
    assert text_of(follow).strip()
    assert not any("toolUse" in b for b in follow["output"]["message"]["content"])


def test_auto_tool_choice(rt, call):
    cfg = {"tools": [WEATHER_TOOL], "toolChoice": {"auto": {}}}
    named = _converse(rt, call, "Please call get_weather for Oslo", toolConfig=cfg)
    assert named["stopReason"] == "tool_use"
    _check_weather_input(_tool_use(named)["input"])
    unnamed = _converse(rt, call, "Tell me a story about a lighthouse", toolConfig=cfg)
    assert unnamed["stopReason"] != "tool_use"
    assert text_of(unnamed).strip()


# ---- model identifiers and placement -----------------------------------------------------


def test_plain_model_id_and_fm_arn_run_in_region(sim, fleet, runtime):
    a = fleet.accounts[0]
    calls = fleet.in_region_calls(a)
    if not calls:
        pytest.skip("no model is on-demand anywhere for the first account")
    c = calls[0]
    rt = runtime(a, c.region)
    for model_id in (c.model_id, fleet.fm_arn(c.model_id, c.region)):
        resp = rt.converse(modelId=model_id, messages=[user(PROMPT)])
        assert text_of(resp).strip()
    rows = sim.invocations(account=a["id"], operation="Converse", status=200)
    assert sum(r["count"] for r in rows) == 2
    for r in rows:
        assert r["region"] == c.region
        assert r["source_region"] == c.region
        assert r["foundation_model"] == c.model_id
        assert r["account_name"] == a["name"]


def test_profile_id_and_arn_run_in_a_destination(sim, fleet, runtime):
    a = fleet.accounts[0]
    calls = fleet.profile_calls(a)
    if not calls:
        pytest.skip("the first account may call no profile")
    c = calls[0]
    rt = runtime(a, c.region)
    arn = fleet.profile_arn(c.model_id, c.region, a)
    for model_id in (c.model_id, arn, c.model_id, arn):
        assert text_of(rt.converse(modelId=model_id, messages=[user(PROMPT)])).strip()
    rows = sim.invocations(account=a["id"], operation="Converse")
    assert sum(r["count"] for r in rows) == 4
    for r in rows:
        assert r["status"] == 200
        assert r["region"] in c.profile["destinations"]
        assert r["source_region"] == c.region
        assert r["foundation_model"] == c.profile["model"]


def test_every_profile_from_every_source_works(fleet, runtime):
    for a in fleet.accounts:
        for c in fleet.profile_calls(a):
            resp = runtime(a, c.region).converse(
                modelId=c.model_id, messages=[user("hi")], inferenceConfig={"maxTokens": 5}
            )
            assert resp["usage"]["outputTokens"] <= 5, (a["name"], c.model_id, c.region)


def test_profile_only_model_in_region_is_rejected(sim, fleet, runtime):
    cases = fleet.profile_only()
    if not cases:
        pytest.skip("the fleet has no profile-only (model, region)")
    m, region = cases[0]
    a = next(x for x in fleet.accounts if fleet.granted(x, m["id"], region))
    with pytest.raises(ClientError) as e:
        runtime(a, region).converse(modelId=m["id"], messages=[user("hi")])
    assert error_code(e.value) == "ValidationException"
    assert status_of(e.value) == 400
    msg = e.value.response["Error"]["Message"].replace("\u2019", "'")
    assert "on-demand throughput isn't supported" in msg
    assert m["id"] in msg
    assert "inference profile" in msg
    rows = sim.invocations(account=a["id"], status=400)
    assert rows and rows[0]["error"] == "ValidationException"


def test_model_not_hosted_in_region_is_rejected(fleet, runtime):
    for m in fleet.models:
        absent = [r for r in fleet.regions if r not in m["hosted_in"]]
        if absent:
            with pytest.raises(ClientError) as e:
                runtime(fleet.accounts[0], absent[0]).converse(modelId=m["id"], messages=[user("hi")])
            assert error_code(e.value) in ("ValidationException", "ResourceNotFoundException")
            assert 400 <= status_of(e.value) < 500
            return
    pytest.skip("every model is hosted in every region")


def test_profile_from_a_non_source_region_is_rejected(fleet, runtime):
    for p in fleet.profiles:
        outside = [r for r in fleet.regions if r not in p["sources"]]
        if outside:
            with pytest.raises(ClientError) as e:
                runtime(fleet.accounts[0], outside[0]).converse(modelId=p["id"], messages=[user("hi")])
            assert error_code(e.value) in ("ValidationException", "ResourceNotFoundException")
            return
    pytest.skip("every profile is sourced from every region")


def test_unencoded_arn_in_path(sim, fleet):
    """The modelId may arrive percent-encoded (boto3 does that) or raw."""
    a = fleet.accounts[0]
    c = fleet.any_call(a)
    arn = (
        fleet.profile_arn(c.model_id, c.region, a) if c.profile else fleet.fm_arn(c.model_id, c.region)
    )
    body = '{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    for ident in (arn, urllib.parse.quote(arn, safe="")):
        r = sim.signed("POST", f"/model/{ident}/converse", account=a, region=c.region, body=body)
        assert r.status_code == 200, (ident, r.status_code, r.text)
        assert r.json()["output"]["message"]["role"] == "assistant"
