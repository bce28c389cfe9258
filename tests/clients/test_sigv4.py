"""SigV4 in (issue 10, item 2): an unmodified boto3 `bedrock-runtime` client with ordinary AWS
credentials (a tenant's access key id and secret) and `endpoint_url` at the gateway, over plain
http. The gateway verifies the signature (wrong secret, stale or future date, a body changed
after signing and unknown keys get AWS's error codes), then routes and re-signs for the account
it chose, with the tenant's residency and limits, as for API-key callers. Usage records name
the access key id, never the secret."""

from __future__ import annotations

import datetime
import json
import os
import re
import signal
import socket
import sqlite3

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from gatewaylib import Gateway, static_account
from simlib import NO_RETRIES, error_code, find_binary, status_of, text_of, user
from test_demo import client_invocations, demo  # noqa: F401  (the `strata demo` fixture, for the printed pairs)

NOVA = "amazon.nova-pro-v1:0"
US = ("AKIASTRATATESTUS0001", "us-apps-sigv4-secret-00000000000000000001")
EU = ("AKIASTRATATESTEU0001", "eu-bank-sigv4-secret-00000000000000000001")
SLOW = ("AKIASTRATATESTSLOW01", "slow-sigv4-secret-0000000000000000000001")
SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                      "Check your AWS Secret Access Key and signing method. "
                      "Consult the service documentation for details.")
HELLO = [user("hello")]


def config(sim, db) -> str:
    """US and EU deployments of one logical model; tenants whose keys are an API key and a SigV4
    pair (secrets from the environment, as a real config would have them)."""
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(sim.fleet, "prod-us")}{static_account(sim.fleet, "prod-eu")}discovery: {{enabled: false}}
models:
  - name: nova
    deployments:
      - {{account: prod-us, region: us-east-1, model: {NOVA}}}
      - {{account: prod-eu, region: eu-west-2, model: {NOVA}}}
tenants:
  - name: us-apps
    keys: [sk-sigv4-us-0001, {{access_key_id: {US[0]}, secret_access_key: "${{US_SECRET}}"}}]
    residency: [us]
  - name: eu-bank
    keys: [{{access_key_id: {EU[0]}, secret_access_key: "${{EU_SECRET}}"}}]
    residency: [eu]
  - name: slow
    keys: [sk-sigv4-slow-001, {{access_key_id: {SLOW[0]}, secret_access_key: "${{SLOW_SECRET}}"}}]
    rpm: 2
admin:
  keys: [sk-sigv4-admin-01]
usage: {{database_url: 'sqlite:{db}'}}
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 1, base_delay_ms: 1, max_delay_ms: 10}}
"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    # Gateway.bedrock() sets AWS_BEARER_TOKEN_BEDROCK; monkeypatch puts the environment back.
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    env.update(US_SECRET=US[1], EU_SECRET=EU[1], SLOW_SECRET=SLOW[1])
    g = Gateway(find_binary(), config(sim, tmp_path / "usage.db"), tmp_path, env=env)
    g.db = tmp_path / "usage.db"
    yield g
    died = g.proc.poll() is not None and not getattr(g, "stopped_by_test", False)
    g.stop()
    assert not died, f"strata serve died:\n{g.stderr()}"


def runtime(endpoint: str, pair: tuple[str, str], region: str = "us-east-1"):
    """An unmodified bedrock-runtime client with ordinary credentials. (botocore prefers a Bedrock
    API key from AWS_BEARER_TOKEN_BEDROCK when one is set, whatever the client's keys.)"""
    os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    return boto3.session.Session().client(
        "bedrock-runtime", region_name=region, endpoint_url=endpoint,
        aws_access_key_id=pair[0], aws_secret_access_key=pair[1],
        config=Config(retries=NO_RETRIES, connect_timeout=5, read_timeout=30),
    )


def regions_called(sim) -> set[str]:
    return {r["region"] for r in sim.stats()["invocations"]}


def signed_request(g: Gateway, path: str, body: bytes, pair: tuple[str, str], region: str = "us-east-1",
                   headers: dict | None = None) -> tuple[str, dict]:
    """A request signed by botocore as bedrock-runtime would (service `bedrock`): URL and headers."""
    req = botocore.awsrequest.AWSRequest(method="POST", url=g.endpoint + path, data=body,
                                         headers={"Content-Type": "application/json", **(headers or {})})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*pair), "bedrock", region).add_auth(req)
    prepared = req.prepare()
    return prepared.url, dict(prepared.headers)


# ---- what works ---------------------------------------------------------------------------------


def test_boto3_with_a_tenants_access_key_calls_every_operation(sim, gateway):
    rt = runtime(gateway.endpoint, US, region="eu-west-3")
    r = rt.converse(modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 8})
    assert text_of(r) and r["stopReason"]
    assert r["usage"]["outputTokens"] > 0

    # A concrete model ID: botocore signs the path with its ':' encoded twice.
    r = rt.converse(modelId=NOVA, messages=HELLO, inferenceConfig={"maxTokens": 8})
    assert text_of(r)

    events = list(rt.converse_stream(modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 8})["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and "contentBlockDelta" in kinds and "metadata" in kinds, kinds

    body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hello"}]}],
                       "inferenceConfig": {"maxTokens": 8}})
    r = rt.invoke_model(modelId="nova", body=body, contentType="application/json", accept="application/json")
    answer = json.loads(r["body"].read())
    assert answer["output"]["message"]["content"][0]["text"], answer

    r = rt.invoke_model_with_response_stream(modelId="nova", body=body, contentType="application/json")
    chunks = [e for e in r["body"] if "chunk" in e]
    assert chunks, "no chunk in the invoke stream"

    # The client signed for eu-west-3; the US tenant's calls still ran in the US only.
    assert regions_called(sim) == {"us-east-1"}, sim.stats()["invocations"]


def test_residency_follows_the_tenant_not_the_signed_region(sim, gateway):
    eu = runtime(gateway.endpoint, EU, region="us-east-1")
    for _ in range(3):
        r = eu.converse(modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 5})
        assert text_of(r)
    assert regions_called(sim) == {"eu-west-2"}, sim.stats()["invocations"]


def test_limits_count_signed_and_bearer_callers_of_a_tenant_together(sim, gateway):
    """`slow` may send 2 requests a minute, whichever of its keys signs them."""
    bearer = gateway.bedrock("sk-sigv4-slow-001")
    assert text_of(bearer.converse(modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 5}))
    signed = runtime(gateway.endpoint, SLOW)
    assert text_of(signed.converse(modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 5}))
    with pytest.raises(ClientError) as refused:
        signed.converse(modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 5})
    assert error_code(refused.value) == "ThrottlingException", refused.value.response
    assert status_of(refused.value) == 429


def test_usage_records_name_the_access_key_id_and_never_the_secret(sim, gateway):
    rt = runtime(gateway.endpoint, US, region="ap-south-1")
    for _ in range(2):
        assert text_of(rt.converse(modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 5}))
    assert text_of(gateway.bedrock("sk-sigv4-us-0001").converse(
        modelId="nova", messages=HELLO, inferenceConfig={"maxTokens": 5}))
    with pytest.raises(ClientError):
        runtime(gateway.endpoint, (US[0], "not-the-secret-000000000000000000000")).converse(
            modelId="nova", messages=HELLO)

    listed = requests.get(gateway.endpoint + "/admin/keys", params={"tenant": "us-apps"}, timeout=10,
                          headers={"Authorization": "Bearer sk-sigv4-admin-01"})
    assert listed.status_code == 200, listed.text
    assert {"id": US[0], "tenant": "us-apps", "source": "config", "kind": "sigv4"} in listed.json()["keys"], listed.text
    assert US[1] not in listed.text

    gateway.stopped_by_test = True
    gateway.proc.send_signal(signal.SIGTERM)
    assert gateway.proc.wait(timeout=60) == 0, gateway.stderr()[-3000:]
    with sqlite3.connect(gateway.db) as conn:
        rows = conn.execute("SELECT tenant, key_id, status, error_class FROM usage ORDER BY at_ms, rowid").fetchall()
        everything = "\n".join(str(r) for r in conn.execute("SELECT * FROM usage").fetchall())
    assert rows[:3] == [("us-apps", US[0], 200, None), ("us-apps", US[0], 200, None),
                        ("us-apps", "us-apps/key-0", 200, None)], rows
    # A signature that does not verify is nobody's request: not attributed to the tenant.
    assert rows[3] == (None, None, 403, "invalid_signature"), rows
    log = gateway.stderr()
    assert re.search(rf'key_id="{US[0]}" signed_region="ap-south-1"', log), log[-3000:]
    for secret in (US[1], EU[1], SLOW[1]):
        assert secret not in everything and secret not in log


def test_the_openai_dialect_takes_sigv4_too_and_answers_failures_in_its_shape(sim, gateway):
    body = json.dumps({"model": "nova", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}).encode()
    url, headers = signed_request(gateway, "/v1/chat/completions", body, US)
    r = requests.post(url, headers=headers, data=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"]

    url, headers = signed_request(gateway, "/v1/chat/completions", body, (US[0], "not-the-secret-0000000000000"))
    r = requests.post(url, headers=headers, data=body, timeout=30)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "invalid_signature", r.text
    assert r.json()["error"]["message"] == SIGNATURE_MISMATCH

    url, headers = signed_request(gateway, "/v1/chat/completions", body, ("AKIASTRATAUNKNOWN001", US[1]))
    r = requests.post(url, headers=headers, data=body, timeout=30)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key", r.text


# ---- what is refused ------------------------------------------------------------------------------


def test_a_wrong_secret_is_an_invalid_signature(sim, gateway):
    rt = runtime(gateway.endpoint, (US[0], "not-the-secret-000000000000000000000"))
    for call in (lambda: rt.converse(modelId="nova", messages=HELLO),
                 lambda: rt.converse_stream(modelId="nova", messages=HELLO)):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e.value) == "InvalidSignatureException", e.value.response
        assert status_of(e.value) == 403
        assert e.value.response["Error"]["Message"] == SIGNATURE_MISMATCH
    assert sim.stats()["invocations"] == [], "a refused request reached upstream"


@pytest.mark.parametrize("minutes, message", [(-20, "Signature expired: "), (20, "Signature not yet current: ")])
def test_a_stale_or_future_date_is_refused(sim, gateway, monkeypatch, minutes, message):
    when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=minutes)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: when)
    with pytest.raises(ClientError) as e:
        runtime(gateway.endpoint, US).converse(modelId="nova", messages=HELLO)
    assert error_code(e.value) == "InvalidSignatureException", e.value.response
    got = e.value.response["Error"]["Message"]
    signed = when.strftime("%Y%m%dT%H%M%SZ")
    assert got.startswith(message + signed), got
    assert got.endswith("15 min.)"), got
    monkeypatch.undo()
    # Within the skew AWS allows, a clock a few minutes off is fine.
    near = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=minutes // 5)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: near)
    assert text_of(runtime(gateway.endpoint, US).converse(modelId="nova", messages=HELLO,
                                                          inferenceConfig={"maxTokens": 5}))


def test_a_body_changed_after_signing_is_refused(sim, gateway):
    rt = runtime(gateway.endpoint, US)

    def tamper(request, **kw):
        # Same length, so only the content differs from what was signed.
        request.body = request.body.replace(b"hello", b"HELLO")

    rt.meta.events.register("before-send.bedrock-runtime.Converse", tamper)
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="nova", messages=HELLO)
    assert error_code(e.value) == "InvalidSignatureException", e.value.response
    assert e.value.response["Error"]["Message"] == SIGNATURE_MISMATCH
    assert sim.stats()["invocations"] == []


def test_an_unknown_access_key_is_refused_before_the_body_is_read(sim, gateway):
    with pytest.raises(ClientError) as e:
        runtime(gateway.endpoint, ("AKIASTRATAUNKNOWN001", US[1])).converse(modelId="nova", messages=HELLO)
    assert error_code(e.value) == "UnrecognizedClientException", e.value.response
    assert e.value.response["Error"]["Message"] == "The security token included in the request is invalid."

    # Headers announcing a megabyte that never comes: the answer does not wait for it.
    body = b"x" * 1_000_000
    url, headers = signed_request(gateway, "/model/nova/converse", body, ("AKIASTRATAUNKNOWN001", US[1]))
    head = f"POST /model/nova/converse HTTP/1.1\r\nHost: 127.0.0.1:{gateway.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() not in ("content-length", "host"))
    head += f"Content-Length: {len(body)}\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as s:
        s.sendall(head.encode())
        answer = s.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 403"), answer
    assert "UnrecognizedClientException" in answer, answer


def test_malformed_and_foreign_signatures(sim, gateway):
    body = json.dumps({"messages": HELLO}).encode()
    url = gateway.endpoint + "/model/nova/converse"
    r = requests.post(url, data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Amz-Date": "20250101T000000Z",
        "Authorization": f"AWS4-HMAC-SHA256 Credential={US[0]}/20250101/us-east-1/bedrock/aws4_request"})
    assert r.status_code == 403, r.text
    assert r.headers["x-amzn-ErrorType"] == "IncompleteSignatureException", r.headers

    # Signed for another service.
    req = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*US), "s3", "us-east-1").add_auth(req)
    p = req.prepare()
    r = requests.post(p.url, headers=dict(p.headers), data=body, timeout=30)
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "InvalidSignatureException", r.text
    assert "bedrock" in r.json()["message"]

    # Temporary credentials are not a tenant's: a session token is refused.
    url, headers = signed_request(gateway, "/model/nova/converse", body, US, headers={"X-Amz-Security-Token": "t"})
    r = requests.post(url, headers=headers, data=body, timeout=30)
    assert r.status_code == 403 and r.headers["x-amzn-ErrorType"] == "UnrecognizedClientException", r.text
    assert sim.stats()["invocations"] == []


# ---- the demo -----------------------------------------------------------------------------------------


def test_the_pairs_strata_demo_prints_work_with_boto3(demo):  # noqa: F811
    pairs = re.findall(r"^(?:sigv4:)?\s+(\S+)\s+(AKIA\w+) / (\S+)$", demo["printed"], re.M)
    assert [p[0] for p in pairs] == ["us-apps", "eu-bank", "lab"], demo["printed"]
    assert re.search(rf"endpoint_url={re.escape(demo['gateway'])}\b", demo["printed"]), demo["printed"]
    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    tenant, akid, secret = pairs[0]
    rt = runtime(demo["gateway"], (akid, secret), region="eu-central-1")
    for model in ["claude-sonnet-4", "nova-pro"]:
        assert text_of(rt.converse(modelId=model, messages=HELLO, inferenceConfig={"maxTokens": 5}))
    rows = client_invocations(demo)
    assert rows and all(r["region"].startswith("us-") for r in rows), rows
