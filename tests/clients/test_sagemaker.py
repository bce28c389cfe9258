"""Existing endpoints kept (issue 12): an unmodified boto3 `sagemaker-runtime` client, pointed at
the gateway with a tenant's SigV4 pair (signed for service `sagemaker`), calls `invoke_endpoint`
and `invoke_endpoint_with_response_stream` on a configured endpoint. The gateway renders the
app's Hugging Face-style payload into a Llama InvokeModel body (pre_process), calls the model
through the request path (routing, limits, usage) and renders the answer back into the app's
shape (post_process; stream_post_process per streamed chunk). Failures come back as SageMaker's
error codes, which botocore raises as ClientError / EventStreamError."""

from __future__ import annotations

import json
import os

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from gatewaylib import gateways, static_account
from simlib import NO_RETRIES, error_code, status_of
from test_demo import demo  # noqa: F401  (the `strata demo` fixture)

LLAMA = "meta.llama3-3-70b-instruct-v1:0"
US = ("AKIASTRATASAGEMAKER1", "sagemaker-tenant-secret-000000000000000001")
EU = ("AKIASTRATASAGEMAKEU1", "sagemaker-eu-tenant-secret-0000000000000001")
SECRET_PROMPT = "zanzibar-quartz-prompt"


CONFIG = """
aws:
  endpoint_url: SIM_ENDPOINT
accounts:
PROD_US_ACCOUNTdiscovery: {enabled: false}
models:
  - name: llama
    deployments:
      - {account: prod-us, region: us-east-2, model: LLAMA_ID}
  - name: other
    deployments:
      - {account: prod-us, region: us-east-2, model: LLAMA_ID}
tenants:
  - name: apps
    keys: [sk-sagemaker-apps-01, {access_key_id: US_KEY, secret_access_key: US_SECRET}]
  - name: others
    keys: [{access_key_id: EU_KEY, secret_access_key: EU_SECRET}]
    models: [other]
endpoints:
  - name: apexguru
    model: llama
    pre_process: |
      {%- set p = body.parameters | default({}) -%}
      {"prompt": {{ body.inputs | tojson }},
       "max_gen_len": {{ p.max_new_tokens | default(64) | tojson }},
       "temperature": {{ p.temperature | default(0.5) | tojson }}}
    post_process: |
      [{"generated_text": {{ response.generation | tojson }},
        "details": {"tokens": {{ response.generation_token_count }}, "finish_reason": {{ response.stop_reason | tojson }}},
        "custom": {{ custom_attributes | tojson }}}]
    stream_post_process: '{% if response.generation %}data:{{ {"token": {"text": response.generation}} | tojson }}{{ "\\n\\n" }}{% endif %}'
  - name: raw-llama
    model: llama
routing:
  timeout_ms: 20000
  retries: {max_attempts: 1, base_delay_ms: 1, max_delay_ms: 10}
"""


def config(sim) -> str:
    return (CONFIG.replace("SIM_ENDPOINT", sim.endpoint).replace("PROD_US_ACCOUNT", static_account(sim.fleet, "prod-us"))
            .replace("LLAMA_ID", LLAMA).replace("US_KEY", US[0]).replace("US_SECRET", US[1])
            .replace("EU_KEY", EU[0]).replace("EU_SECRET", EU[1]))


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    yield from gateways(tmp_path, monkeypatch, lambda: config(sim))


def sagemaker(endpoint: str, pair=US, region: str = "us-east-1"):
    """An unmodified sagemaker-runtime client with ordinary AWS credentials."""
    os.environ.pop("AWS_BEARER_TOKEN_BEDROCK", None)
    return boto3.session.Session().client(
        "sagemaker-runtime", region_name=region, endpoint_url=endpoint,
        aws_access_key_id=pair[0], aws_secret_access_key=pair[1],
        config=Config(retries=NO_RETRIES, connect_timeout=5, read_timeout=30),
    )


def payload(text: str = "Tell me about Apex.", **parameters) -> bytes:
    return json.dumps({"inputs": text, "parameters": {"max_new_tokens": 40, **parameters}}).encode()


def stream_parts(response) -> list[bytes]:
    return [e["PayloadPart"]["Bytes"] for e in response["Body"] if "PayloadPart" in e]


def tokens_of(parts: list[bytes]) -> str:
    """TGI's streamed `data:{"token": {"text": …}}` lines, their texts joined."""
    text = b"".join(parts).decode()
    events = [line[len("data:"):] for line in text.split("\n\n") if line.startswith("data:")]
    assert events and text.endswith("\n\n"), text
    return "".join(json.loads(e)["token"]["text"] for e in events)


# ---- what works ---------------------------------------------------------------------------------


def test_invoke_endpoint_renders_the_payload_and_the_answer(sim, gateway):
    g = gateway()
    sm = sagemaker(g.endpoint, region="eu-west-1")
    r = sm.invoke_endpoint(EndpointName="apexguru", Body=payload(), ContentType="application/json",
                           Accept="application/json", CustomAttributes="trace=on")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ContentType"] == "application/json"
    assert r["InvokedProductionVariant"] == "AllTraffic"
    answer = json.loads(r["Body"].read())
    assert isinstance(answer, list) and len(answer) == 1, answer
    first = answer[0]
    assert first["generated_text"] and isinstance(first["generated_text"], str), answer
    assert first["details"]["tokens"] > 0 and first["details"]["finish_reason"] in {"stop", "length"}, answer
    assert first["custom"] == "trace=on", answer
    # The model was sent the Llama body the pre-template made, with the app's max_new_tokens.
    calls = sim.stats()["invocations"]
    assert calls and {c["region"] for c in calls} == {"us-east-2"}, calls


def test_the_app_payload_limit_and_missing_parameters(sim, gateway):
    g = gateway()
    sm = sagemaker(g.endpoint)
    short = json.loads(sm.invoke_endpoint(EndpointName="apexguru", Body=payload(max_new_tokens=3),
                                          ContentType="application/json")["Body"].read())
    assert short[0]["details"] == {"tokens": 3, "finish_reason": "length"}, short
    # No `parameters` at all: the template's defaults apply.
    bare = json.dumps({"inputs": "hello"}).encode()
    r = json.loads(sm.invoke_endpoint(EndpointName="apexguru", Body=bare, ContentType="application/json")["Body"].read())
    assert r[0]["generated_text"], r


def test_invoke_endpoint_with_response_stream_sends_payload_parts(sim, gateway):
    g = gateway()
    sm = sagemaker(g.endpoint)
    whole = json.loads(sm.invoke_endpoint(EndpointName="apexguru", Body=payload(), ContentType="application/json")
                       ["Body"].read())[0]["generated_text"]
    r = sm.invoke_endpoint_with_response_stream(EndpointName="apexguru", Body=payload(), ContentType="application/json",
                                                Accept="application/json")
    assert r["ContentType"] == "application/json"
    assert r["InvokedProductionVariant"] == "AllTraffic"
    parts = stream_parts(r)
    assert len(parts) > 1, parts
    assert tokens_of(parts) == whole


def test_without_templates_payloads_and_chunks_pass_as_they_are(sim, gateway):
    g = gateway()
    sm = sagemaker(g.endpoint)
    body = json.dumps({"prompt": "hello", "max_gen_len": 8}).encode()
    r = json.loads(sm.invoke_endpoint(EndpointName="raw-llama", Body=body, ContentType="application/json")["Body"].read())
    assert r["generation"] and r["generation_token_count"] <= 8, r
    chunks = [json.loads(p) for p in stream_parts(sm.invoke_endpoint_with_response_stream(
        EndpointName="raw-llama", Body=body, ContentType="application/json"))]
    assert chunks and all("generation" in c for c in chunks), chunks
    assert "".join(c["generation"] for c in chunks) == r["generation"]


def test_api_keys_work_too(gateway):
    g = gateway()
    r = requests.post(g.endpoint + "/endpoints/apexguru/invocations", data=payload(), timeout=30,
                      headers={"Authorization": "Bearer sk-sagemaker-apps-01", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["x-amzn-invoked-production-variant"] == "AllTraffic"
    assert r.json()[0]["generated_text"]


# ---- what fails, and how ------------------------------------------------------------------------


def test_an_unknown_endpoint_is_a_validation_error(gateway):
    g = gateway()
    with pytest.raises(ClientError) as e:
        sagemaker(g.endpoint).invoke_endpoint(EndpointName="nope", Body=payload(), ContentType="application/json")
    assert error_code(e.value) == "ValidationError", e.value.response
    assert status_of(e.value) == 400
    assert e.value.response["Error"]["Message"] == "Endpoint nope of account apps not found."


def test_a_payload_the_template_cannot_read_is_a_validation_error(sim, gateway):
    g = gateway()
    sm = sagemaker(g.endpoint)
    lacking = json.dumps({"text": SECRET_PROMPT}).encode()
    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint(EndpointName="apexguru", Body=lacking, ContentType="application/json")
    assert (error_code(e.value), status_of(e.value)) == ("ValidationError", 400), e.value.response
    message = e.value.response["Error"]["Message"]
    assert "apexguru" in message and "pre_process" in message and SECRET_PROMPT not in message, message

    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint(EndpointName="apexguru", Body=b"inputs=" + SECRET_PROMPT.encode(), ContentType="application/json")
    assert error_code(e.value) == "ValidationError"
    assert "not valid JSON" in e.value.response["Error"]["Message"]
    assert SECRET_PROMPT not in e.value.response["Error"]["Message"]

    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint_with_response_stream(EndpointName="apexguru", Body=lacking, ContentType="application/json")
    assert error_code(e.value) == "ValidationError"
    # Nothing reached the model.
    assert sim.stats()["invocations"] == []


def test_headers_an_endpoint_cannot_honour_are_refused_by_name(gateway):
    g = gateway()
    sm = sagemaker(g.endpoint)
    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint(EndpointName="apexguru", Body=payload(), ContentType="application/json", TargetModel="m.tar.gz")
    assert error_code(e.value) == "ValidationError"
    assert "X-Amzn-SageMaker-Target-Model" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.invoke_endpoint(EndpointName="apexguru", Body=payload(), ContentType="application/json", Accept="text/csv")
    assert error_code(e.value) == "ValidationError"
    assert "text/csv" in e.value.response["Error"]["Message"]


def test_a_tenant_not_granted_the_endpoints_model_is_denied(gateway):
    g = gateway()
    with pytest.raises(ClientError) as e:
        sagemaker(g.endpoint, EU).invoke_endpoint(EndpointName="apexguru", Body=payload(), ContentType="application/json")
    assert (error_code(e.value), status_of(e.value)) == ("AccessDeniedException", 403), e.value.response


def test_wrong_secrets_unknown_keys_and_unsigned_calls_are_refused(gateway):
    g = gateway()
    with pytest.raises(ClientError) as e:
        sagemaker(g.endpoint, (US[0], "not-the-secret-0000000000000000000000000")).invoke_endpoint(
            EndpointName="apexguru", Body=payload(), ContentType="application/json")
    assert (error_code(e.value), status_of(e.value)) == ("InvalidSignatureException", 403), e.value.response
    with pytest.raises(ClientError) as e:
        sagemaker(g.endpoint, ("AKIASTRATANOBODY0001", US[1])).invoke_endpoint(
            EndpointName="apexguru", Body=payload(), ContentType="application/json")
    assert (error_code(e.value), status_of(e.value)) == ("UnrecognizedClientException", 403), e.value.response
    # Signed for Bedrock's service (as bedrock-runtime signs) instead of SageMaker's.
    req = botocore.awsrequest.AWSRequest(method="POST", url=g.endpoint + "/endpoints/apexguru/invocations",
                                         data=payload(), headers={"Content-Type": "application/json"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*US), "bedrock", "us-east-1").add_auth(req)
    prepared = req.prepare()
    r = requests.post(prepared.url, headers=dict(prepared.headers), data=payload(), timeout=30)
    assert r.status_code == 403 and r.headers["x-amzn-errortype"] == "InvalidSignatureException", r.text
    assert r.json()["message"] == "Credential should be scoped to correct service: 'sagemaker'."
    r = requests.post(g.endpoint + "/endpoints/apexguru/invocations", data=payload(), timeout=30)
    assert r.status_code == 403 and r.headers["x-amzn-errortype"] == "UnrecognizedClientException", r.text


def test_unknown_operations_are_answered_in_sagemakers_shape(gateway):
    g = gateway()
    headers = {"Authorization": "Bearer sk-sagemaker-apps-01"}
    r = requests.post(g.endpoint + "/endpoints/apexguru/async-invocations", data=payload(), headers=headers, timeout=30)
    assert r.status_code == 404 and r.headers["x-amzn-errortype"] == "UnknownOperationException", r.text
    assert "InvokeEndpointAsync" in r.json()["message"]
    r = requests.get(g.endpoint + "/endpoints/apexguru/invocations", headers=headers, timeout=30)
    assert r.status_code == 405 and r.headers["x-amzn-errortype"] == "UnknownOperationException", r.text


def test_a_stream_broken_mid_way_ends_with_a_model_stream_error(sim, gateway):
    g = gateway()
    sim.add_fault(kind="stream_cut", after_events=2, mode="drop", count=1)
    r = sagemaker(g.endpoint).invoke_endpoint_with_response_stream(
        EndpointName="apexguru", Body=payload(), ContentType="application/json")
    parts = []
    with pytest.raises(EventStreamError) as e:
        for event in r["Body"]:
            parts.append(event["PayloadPart"]["Bytes"])
    assert e.value.response["Error"]["Code"] == "ModelStreamError", e.value.response
    assert parts, "the parts before the break were relayed"


def test_usage_is_recorded_per_invocation_under_the_sagemaker_dialect(gateway):
    g = gateway()
    sm = sagemaker(g.endpoint)
    sm.invoke_endpoint(EndpointName="apexguru", Body=payload(), ContentType="application/json")["Body"].read()
    stream_parts(sm.invoke_endpoint_with_response_stream(EndpointName="apexguru", Body=payload(),
                                                         ContentType="application/json"))
    metrics = requests.get(g.endpoint + "/metrics", timeout=10).text
    lines = [l for l in metrics.splitlines() if l.startswith("strata_requests_total{") and 'dialect="sagemaker"' in l]
    assert lines, metrics[-3000:]
    assert sum(float(l.rsplit(" ", 1)[1]) for l in lines) == 2, lines


# ---- the demo -----------------------------------------------------------------------------------


def test_the_demo_serves_apexguru_to_boto3_sagemaker_runtime(demo):  # noqa: F811
    printed = demo["printed"]
    assert "sagemaker-runtime" in printed and "apexguru" in printed, printed
    def qwen_invocations() -> int:
        models = requests.get(demo["sim"] + "/_sim/custom-models", timeout=10).json()["models"]
        return sum(m["invocations"] for m in models if m["name"] == "apexguru-qwen")

    before = qwen_invocations()
    sm = sagemaker(demo["gateway"], ("AKIASTRATADEMOGL0001", "strata-demo-lab-secret-00000000000000001"))
    body = json.dumps({"inputs": "What is Apex?", "parameters": {"max_new_tokens": 20}}).encode()
    answer = json.loads(sm.invoke_endpoint(EndpointName="apexguru", Body=body, ContentType="application/json")["Body"].read())
    assert answer[0]["generated_text"], answer
    parts = stream_parts(sm.invoke_endpoint_with_response_stream(EndpointName="apexguru", Body=body,
                                                                 ContentType="application/json"))
    assert tokens_of(parts)
    # The endpoint now runs on the imported Qwen (Bedrock Custom Model Import), kept warm.
    assert qwen_invocations() >= before + 2
    targets = requests.get(demo["gateway"] + "/admin/custom-models", timeout=10,
                           headers={"Authorization": "Bearer sk-demo-admin"}).json()["targets"]
    apexguru = [t for t in targets if t["model"] == "apexguru"]
    assert len(apexguru) == 2 and all(t["keep_warm_interval_ms"] == 14 * 60 * 1000 for t in apexguru), targets
    page = requests.get(demo["gateway"] + "/dashboard", headers={"Authorization": "Bearer sk-demo-admin"}, timeout=10)
    assert "Custom models" in page.text and any("apxqwenuse01" in t["target"] for t in apexguru), apexguru
