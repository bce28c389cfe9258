"""InvokeModel / InvokeModelWithResponseStream / CountTokens with each provider's native body.

The default fleet may not have a model of every body kind; `invoke_sim` (conftest) then runs a
second emulator on the default fleet plus one model per missing kind."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from simlib import error_code

PROMPT = "Summarise the benefits of inference profiles for a busy platform team."


@pytest.fixture(autouse=True)
def _reset_invoke_sim(invoke_sim):
    invoke_sim.reset()


def _call(invoke_sim, body):
    a = invoke_sim.fleet.accounts[0]
    c = invoke_sim.fleet.any_call(a, body=body)
    assert c is not None, f"no callable {body} model for {a['name']} in the invoke fleet"
    client = invoke_sim.client("bedrock-runtime", a, c.region)
    return c, client


# ---- per-provider request bodies and response readers ------------------------------------


def request_body(kind, max_tokens=400, prompt=PROMPT):
    if kind == "anthropic":
        return {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
        }
    if kind == "nova":
        return {
            "messages": [{"role": "user", "content": [{"text": prompt}]}],
            "inferenceConfig": {"maxTokens": max_tokens},
        }
    if kind == "llama":
        return {"prompt": f"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n{prompt}", "max_gen_len": max_tokens}
    if kind == "mistral":
        return {"prompt": f"<s>[INST] {prompt} [/INST]", "max_tokens": max_tokens}
    raise AssertionError(kind)


def read_native(kind, out):
    """(text, input tokens or None, output tokens or None, stop reason) of a native response,
    asserting its shape."""
    if kind == "anthropic":
        assert out["type"] == "message"
        assert out["role"] == "assistant"
        assert out["id"]
        blocks = out["content"]
        assert blocks and all(b["type"] == "text" for b in blocks)
        u = out["usage"]
        return "".join(b["text"] for b in blocks), u["input_tokens"], u["output_tokens"], out["stop_reason"]
    if kind == "nova":
        msg = out["output"]["message"]
        assert msg["role"] == "assistant"
        u = out["usage"]
        assert u["totalTokens"] == u["inputTokens"] + u["outputTokens"]
        return "".join(b["text"] for b in msg["content"]), u["inputTokens"], u["outputTokens"], out["stopReason"]
    if kind == "llama":
        assert isinstance(out["generation"], str)
        return out["generation"], out["prompt_token_count"], out["generation_token_count"], out["stop_reason"]
    if kind == "mistral":
        outs = out["outputs"]
        assert len(outs) == 1
        return outs[0]["text"], None, None, outs[0]["stop_reason"]
    raise AssertionError(kind)


NATURAL_STOP = {"anthropic": "end_turn", "nova": "end_turn", "llama": "stop", "mistral": "stop"}
LENGTH_STOP = {"anthropic": "max_tokens", "nova": "max_tokens", "llama": "length", "mistral": "length"}


def stream_text(kind, chunks):
    """Concatenated text of a provider's native stream chunks (asserting their shape)."""
    parts = []
    for c in chunks:
        if kind == "anthropic":
            assert "type" in c
            if c["type"] == "content_block_delta":
                assert c["delta"]["type"] == "text_delta"
                parts.append(c["delta"]["text"])
        elif kind == "nova":
            if "contentBlockDelta" in c:
                parts.append(c["contentBlockDelta"]["delta"]["text"])
        elif kind == "llama":
            parts.append(c["generation"])
        elif kind == "mistral":
            parts.append(c["outputs"][0]["text"])
    return "".join(parts)


def stream_stop(kind, chunks):
    if kind == "anthropic":
        return next(c["delta"]["stop_reason"] for c in chunks if c["type"] == "message_delta")
    if kind == "nova":
        return next(c["messageStop"]["stopReason"] for c in chunks if "messageStop" in c)
    if kind == "llama":
        return chunks[-1]["stop_reason"]
    if kind == "mistral":
        return chunks[-1]["outputs"][0]["stop_reason"]
    raise AssertionError(kind)


def _headers(resp):
    h = resp["ResponseMetadata"]["HTTPHeaders"]
    return (
        int(h["x-amzn-bedrock-input-token-count"]),
        int(h["x-amzn-bedrock-output-token-count"]),
        int(h["x-amzn-bedrock-invocation-latency"]),
    )


KINDS = ["anthropic", "nova", "llama", "mistral"]


@pytest.mark.parametrize("kind", KINDS)
def test_invoke_model_native_shape_and_headers(invoke_sim, kind):
    c, rt = _call(invoke_sim, kind)
    resp = rt.invoke_model(
        modelId=c.model_id, body=json.dumps(request_body(kind)),
        contentType="application/json", accept="application/json",
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["contentType"].startswith("application/json")
    out = json.loads(resp["body"].read())
    text, tin, tout, stop = read_native(kind, out)
    assert text.strip()
    assert stop == NATURAL_STOP[kind]
    h_in, h_out, latency = _headers(resp)
    assert h_in > 0 and h_out > 0 and latency >= 0
    assert h_out == len(text.split())
    if tin is not None:
        assert (tin, tout) == (h_in, h_out)

    rows = invoke_sim.invocations(operation="InvokeModel", status=200)
    assert len(rows) == 1 and rows[0]["foundation_model"] == c.foundation_model["id"]


@pytest.mark.parametrize("kind", KINDS)
def test_invoke_model_length_cut(invoke_sim, kind):
    c, rt = _call(invoke_sim, kind)
    resp = rt.invoke_model(modelId=c.model_id, body=json.dumps(request_body(kind, max_tokens=3)))
    text, _, tout, stop = read_native(kind, json.loads(resp["body"].read()))
    assert stop == LENGTH_STOP[kind]
    assert len(text.split()) <= 3
    assert _headers(resp)[1] <= 3


@pytest.mark.parametrize("kind", KINDS)
def test_invoke_model_deterministic(invoke_sim, kind):
    c, rt = _call(invoke_sim, kind)
    body = json.dumps(request_body(kind))
    a = json.loads(rt.invoke_model(modelId=c.model_id, body=body)["body"].read())
    b = json.loads(rt.invoke_model(modelId=c.model_id, body=body)["body"].read())
    assert read_native(kind, a)[0] == read_native(kind, b)[0]


@pytest.mark.parametrize("kind", KINDS)
def test_invoke_with_response_stream(invoke_sim, kind):
    c, rt = _call(invoke_sim, kind)
    if not c.foundation_model["streaming"]:
        pytest.skip(f"{c.model_id} does not stream")
    body = json.dumps(request_body(kind))
    resp = rt.invoke_model_with_response_stream(modelId=c.model_id, body=body)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["contentType"].startswith("application/json")
    chunks = []
    for event in resp["body"]:
        assert set(event) == {"chunk"}, event
        chunks.append(json.loads(event["chunk"]["bytes"]))
    assert len(chunks) >= 3

    metrics = chunks[-1].get("amazon-bedrock-invocationMetrics")
    assert metrics is not None, chunks[-1]
    assert all("amazon-bedrock-invocationMetrics" not in c for c in chunks[:-1])

    whole = rt.invoke_model(modelId=c.model_id, body=body)
    text, _, _, stop = read_native(kind, json.loads(whole["body"].read()))
    assert stream_text(kind, chunks) == text
    assert stream_stop(kind, chunks) == stop
    h_in, h_out, _ = _headers(whole)
    assert metrics["inputTokenCount"] == h_in
    assert metrics["outputTokenCount"] == h_out
    assert metrics["invocationLatency"] >= 0
    assert metrics["firstByteLatency"] >= 0

    if kind == "anthropic":
        types = [ch["type"] for ch in chunks]
        assert types[0] == "message_start" and types[-1] == "message_stop"
        assert types.index("content_block_start") < types.index("content_block_delta")
        assert "content_block_stop" in types and "message_delta" in types


def test_invoke_anthropic_tool_use(invoke_sim):
    c, rt = _call(invoke_sim, "anthropic")
    body = request_body("anthropic")
    body["tools"] = [
        {
            "name": "get_stock_price",
            "description": "Stock price",
            "input_schema": {
                "type": "object",
                "properties": {"ticker": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["ticker", "days"],
            },
        }
    ]
    body["tool_choice"] = {"type": "any"}
    out = json.loads(rt.invoke_model(modelId=c.model_id, body=json.dumps(body))["body"].read())
    assert out["stop_reason"] == "tool_use"
    tu = next(b for b in out["content"] if b["type"] == "tool_use")
    assert tu["name"] == "get_stock_price" and tu["id"]
    assert isinstance(tu["input"]["ticker"], str)
    assert isinstance(tu["input"]["days"], int)


def test_invoke_model_rejects_wrong_body_kind(invoke_sim):
    """A Llama-style prompt body sent to an Anthropic model is a ValidationException."""
    c, rt = _call(invoke_sim, "anthropic")
    with pytest.raises(ClientError) as e:
        rt.invoke_model(modelId=c.model_id, body=json.dumps({"prompt": "hi", "max_gen_len": 5}))
    assert error_code(e.value) == "ValidationException"


@pytest.fixture
def count_call(invoke_sim):
    c, rt = _call(invoke_sim, "anthropic")
    if not hasattr(rt, "count_tokens"):
        pytest.skip("the installed boto3 has no count_tokens")
    return c, rt


# CountTokens' modelId is meant to be a foundation-model ID, but a profile-only model can only be
# reached through its profile: these use the ID the call itself uses.


def test_count_tokens_converse(count_call):
    c, rt = count_call
    messages = [{"role": "user", "content": [{"text": PROMPT}]}]
    counted = rt.count_tokens(modelId=c.model_id, input={"converse": {"messages": messages}})
    conv = rt.converse(modelId=c.model_id, messages=messages)
    assert counted["inputTokens"] == conv["usage"]["inputTokens"]


def test_count_tokens_invoke_model(count_call):
    """The invokeModel body is a blob: boto3 sends it base64-encoded inside the JSON."""
    c, rt = count_call
    body = json.dumps(request_body("anthropic"))
    counted = rt.count_tokens(modelId=c.model_id, input={"invokeModel": {"body": body.encode()}})
    inv = rt.invoke_model(modelId=c.model_id, body=body)
    assert counted["inputTokens"] == _headers(inv)[0]
