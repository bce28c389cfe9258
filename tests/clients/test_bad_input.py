"""Bad input over the wire: correctly signed but malformed requests, broken auth, unknown models.
Every answer must be a 4xx with `x-amzn-ErrorType` and a JSON `{"message": …}` — never a 5xx or
a hang (every request has a timeout). A normal call must still work afterwards."""

from __future__ import annotations

import json

import pytest
import requests
from botocore.exceptions import ClientError

from simlib import HTTP_TIMEOUT, error_code, text_of, user


@pytest.fixture
def target(fleet):
    a = fleet.accounts[0]
    c = fleet.any_call(a)
    assert c is not None
    return a, c


def _check_error(r: requests.Response, statuses=range(400, 500)) -> str:
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    etype = r.headers.get("x-amzn-ErrorType")
    assert etype, f"no x-amzn-ErrorType header: {dict(r.headers)}"
    body = r.json()
    assert isinstance(body.get("message") or body.get("Message"), str), body
    return etype.split(":")[0]


def _post(sim, target, body, op="converse", **kw):
    a, c = target
    return sim.signed("POST", f"/model/{c.model_id}/{op}", account=a, region=c.region, body=body, **kw)


GOOD = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})

BAD_CONVERSE_BODIES = {
    "broken-json": '{"messages": [',
    "not-an-object": "[1, 2, 3]",
    "empty-body": "",
    "messages-is-string": json.dumps({"messages": "x"}),
    "missing-messages": json.dumps({"inferenceConfig": {"maxTokens": 10}}),
    "empty-messages": json.dumps({"messages": []}),
    "bad-role": json.dumps({"messages": [{"role": "robot", "content": [{"text": "hi"}]}]}),
    "content-is-string": json.dumps({"messages": [{"role": "user", "content": "hi"}]}),
    "max-tokens-is-string": json.dumps({"messages": [user("hi")], "inferenceConfig": {"maxTokens": "ten"}}),
    "max-tokens-negative": json.dumps({"messages": [user("hi")], "inferenceConfig": {"maxTokens": -1}}),
    "temperature-out-of-range": json.dumps({"messages": [user("hi")], "inferenceConfig": {"temperature": 7}}),
    "first-message-from-assistant": json.dumps({"messages": [{"role": "assistant", "content": [{"text": "hi"}]}]}),
    "tool-choice-unknown-tool": json.dumps({
        "messages": [user("hi")],
        "toolConfig": {"tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": {"type": "object"}}}}],
                       "toolChoice": {"tool": {"name": "b"}}},
    }),
    "binary-garbage": b"\xff\xfe\x00\x01garbage",
}


@pytest.mark.parametrize("op", ["converse", "converse-stream"])
@pytest.mark.parametrize("name", list(BAD_CONVERSE_BODIES))
def test_bad_converse_body_is_a_validation_error(sim, target, name, op):
    r = _post(sim, target, BAD_CONVERSE_BODIES[name], op=op)
    assert _check_error(r) in ("ValidationException", "SerializationException")
    assert r.status_code == 400
    assert sim.invocations(status=200) == []


BAD_INVOKE_BODIES = {
    "broken-json": '{"prompt": ',
    "not-json": "hello there",
    "empty": "",
    "json-string": json.dumps("just a string"),
}


@pytest.mark.parametrize("op", ["invoke", "invoke-with-response-stream"])
@pytest.mark.parametrize("name", list(BAD_INVOKE_BODIES))
def test_bad_invoke_body_is_a_validation_error(sim, target, name, op):
    r = _post(sim, target, BAD_INVOKE_BODIES[name], op=op)
    assert _check_error(r) == "ValidationException"
    assert r.status_code == 400


def test_body_over_20_mib_is_refused(sim, target):
    text = "a" * (21 * 1024 * 1024)
    body = json.dumps({"messages": [{"role": "user", "content": [{"text": text}]}]})
    try:
        r = _post(sim, target, body, timeout=60)
    except requests.ConnectionError as e:  # pragma: no cover - reported as a failure
        pytest.fail(f"the emulator dropped the connection instead of answering: {e!r}")
    assert _check_error(r, statuses=(400, 413)) == "ValidationException"


def test_body_just_under_the_limit_is_not_refused_for_size(sim, target):
    """Big but legal input (~1 MiB of text) is answered normally."""
    text = "word " * 200_000
    r = _post(sim, target, json.dumps({"messages": [user(text)], "inferenceConfig": {"maxTokens": 5}}))
    assert r.status_code == 200, r.text[:300]
    assert r.json()["usage"]["inputTokens"] >= 250_000


@pytest.mark.parametrize(
    "auth",
    [
        "garbage",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
        "AWS4-HMAC-SHA256 Credential=AKIAPRODUS0000000001/2024/us-east-1, Signature=00",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_garbage_authorization_header_is_403(sim, target, auth):
    _, c = target
    r = requests.post(
        f"{sim.endpoint}/model/{c.model_id}/converse", data=GOOD,
        headers={"Authorization": auth, "Content-Type": "application/json"}, timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 403, (r.status_code, r.text)
    assert _check_error(r, statuses=(403,)) in (
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "AccessDeniedException",
    )


def test_missing_authorization_is_403(sim, target):
    _, c = target
    for path, method in ((f"/model/{c.model_id}/converse", "POST"), ("/foundation-models", "GET")):
        r = requests.request(method, sim.endpoint + path, data=GOOD if method == "POST" else None,
                             headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
        assert _check_error(r, statuses=(403,)) == "MissingAuthenticationTokenException"


def test_unknown_model(runtime, target):
    a, c = target
    for model_id in ("acme.no-such-model-v9:0",
                     f"arn:aws:bedrock:{c.region}::foundation-model/acme.no-such-model-v9:0",
                     "us.acme.no-such-model-v9:0",
                     "not a model id at all"):
        with pytest.raises(ClientError) as e:
            runtime(a, c.region).converse(modelId=model_id, messages=[user("hi")])
        assert error_code(e.value) in ("ValidationException", "ResourceNotFoundException"), model_id
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)


def test_unknown_route_is_4xx(sim, target):
    a, c = target
    r = sim.signed("POST", f"/model/{c.model_id}/no-such-operation", account=a, region=c.region, body=GOOD)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)


def test_unsupported_region_is_rejected(sim, target):
    a, c = target
    r = sim.signed("POST", f"/model/{c.model_id}/converse", account=a, region="mars-north-1", body=GOOD)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert r.headers.get("x-amzn-ErrorType")


def test_a_normal_call_still_works_after_bad_input(sim, runtime, target):
    # throw a burst of bad input first, then expect a clean answer over boto3 and raw
    for body in BAD_CONVERSE_BODIES.values():
        _post(sim, target, body)
    a, c = target
    resp = runtime(a, c.region).converse(modelId=c.model_id, messages=[user("still there?")])
    assert text_of(resp).strip()
    r = _post(sim, target, GOOD)
    assert r.status_code == 200
    assert r.json()["output"]["message"]["role"] == "assistant"
    assert sim.get("/_sim/health").json() == {"status": "ok"}
