"""`strata serve` in front of the emulator, driven by unmodified boto3 through the Bedrock-native
API: logical models, retries on throttling, fallback on outage, cooldown, residency, relayed
streams and mid-stream cuts."""

from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError, EventStreamError

from gatewaylib import gateways, static_account

SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
US_SONNET = "us." + SONNET
EU_SONNET = "eu." + SONNET
NOVA = "amazon.nova-pro-v1:0"


def user(text):
    return {"role": "user", "content": [{"text": text}]}


def config(sim, routing="", models=None):
    f = sim.fleet
    models = models or f"""
  - name: claude
    strategy: priority
    deployments:
      - {{account: prod-us, region: us-east-1, model: {US_SONNET}, priority: 0}}
      - {{account: sandbox, region: us-west-2, model: {US_SONNET}, priority: 1}}
    fallbacks: [nova]
  - name: nova
    deployments:
      - {{account: prod-us, region: us-east-1, model: {NOVA}}}
  - name: claude-eu
    deployments:
      - {{account: prod-eu, region: eu-west-1, model: {EU_SONNET}}}
      - {{account: prod-us, region: us-east-1, model: {US_SONNET}}}
"""
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}{static_account(f, "sandbox")}  - name: prod-eu
    credentials:
      type: assume_role
      role_arn: arn:aws:iam::{next(a for a in f.accounts if a["name"] == "prod-eu")["id"]}:role/StrataGateway
      source: {{type: static, access_key_id: {next(a for a in f.accounts if a["name"] == "gateway-hub")["access_key_id"]}, secret_access_key: {next(a for a in f.accounts if a["name"] == "gateway-hub")["secret_access_key"]}}}
models:{models}
tenants:
  - {{name: us-apps, keys: [sk-test-us-000001], residency: [us], route_detail: full}}
  - {{name: eu-bank, keys: [sk-test-eu-000001], residency: [eu], route_detail: full}}
  - {{name: lab, keys: [sk-test-any-00001], residency: [any], route_detail: full, models: [nova]}}
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 3, base_delay_ms: 1, max_delay_ms: 20}}
{routing}"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    yield from gateways(tmp_path, monkeypatch, lambda: config(sim))

def test_converse_and_stream_through_a_logical_model(sim, gateway):
    g = gateway()
    rt = g.bedrock("sk-test-us-000001")
    r = rt.converse(modelId="claude", messages=[user("hello")], inferenceConfig={"maxTokens": 7})
    assert r["usage"]["outputTokens"] == 7 and r["stopReason"] == "max_tokens"
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"].startswith("prod-us/us-east-1/")
    events = list(rt.converse_stream(modelId="claude", messages=[user("hello")])["stream"])
    assert "messageStart" in events[0] and "metadata" in events[-1]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    plain = rt.converse(modelId="claude", messages=[user("hello")])
    assert text == plain["output"]["message"]["content"][0]["text"]
    assert all(i["account"] == "111111111111" for i in sim.invocations())


def test_count_tokens_through_the_gateway(sim, gateway):
    g = gateway()
    rt = g.bedrock("sk-test-us-000001")
    messages = [user("hello there, how many tokens is this?")]
    counted = rt.count_tokens(modelId="nova", input={"converse": {"messages": messages}})["inputTokens"]
    assert counted == rt.converse(modelId="nova", messages=messages)["usage"]["inputTokens"]
    assert [r["operation"] for r in sim.invocations(operation="CountTokens")] == ["CountTokens"]


def test_throttling_is_retried_on_the_next_shard(sim, gateway):
    g = gateway()
    sim.add_fault(kind="throttle", account="prod-us", count=1)
    r = g.bedrock("sk-test-us-000001").converse(modelId="claude", messages=[user("hi")])
    assert r["stopReason"]
    statuses = {(i["account_name"], i["status"]) for i in sim.invocations()}
    assert ("prod-us", 429) in statuses and ("sandbox", 200) in statuses


def test_outage_falls_back_to_the_fallback_model_and_cools_down(sim, gateway):
    g = gateway()
    sim.add_fault(kind="outage", model=US_SONNET)
    rt = g.bedrock("sk-test-us-000001")
    for _ in range(4):
        r = rt.converse(modelId="claude", messages=[user("hi")])
        assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"].endswith(NOVA)
    failed = sum(i["count"] for i in sim.invocations() if i["status"] == 503)
    # Both shards cool down after 3 failures each, so later requests go straight to the fallback.
    assert failed <= 6, sim.invocations()
    metrics = requests.get(g.endpoint + "/metrics", timeout=10).text
    assert 'strata_fallbacks_total{kind="model",model="claude"} 4' in metrics, metrics


def test_eu_tenant_never_leaves_the_eu(sim, gateway):
    g = gateway()
    rt = g.bedrock("sk-test-eu-000001")
    sim.set_access(account="prod-eu", region="eu-south-2", model=SONNET, granted=True)
    for _ in range(5):
        rt.converse(modelId="claude-eu", messages=[user("bonjour")])
    regions = {i["region"] for i in sim.invocations()}
    assert regions and all(r.startswith("eu-") for r in regions), regions
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="nova", messages=[user("hi")])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_errors_are_bedrock_shaped(sim, gateway):
    g = gateway()
    with pytest.raises(ClientError) as e:
        g.bedrock("sk-wrong-key-0000").converse(modelId="claude", messages=[user("hi")])
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as e:
        g.bedrock("sk-test-any-00001").converse(modelId="claude", messages=[user("hi")])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        g.bedrock("sk-test-us-000001").converse(modelId="no-such-model", messages=[user("hi")])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        g.bedrock("sk-test-us-000001").converse(modelId="claude", messages=[])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")


def test_mid_stream_cut_reaches_the_client_as_an_error(sim, gateway):
    g = gateway()
    sim.add_fault(kind="stream_cut", after_events=3, mode="drop")
    stream = g.bedrock("sk-test-us-000001").converse_stream(modelId="claude", messages=[user("hi")])["stream"]
    got = []
    with pytest.raises(EventStreamError) as e:
        for event in stream:
            got.append(event)
    assert 0 < len(got) < 6
    assert e.value.response["Error"]["Code"] == "internalServerException"


def test_a_failure_before_the_first_event_is_retried_invisibly(sim, gateway):
    g = gateway()
    sim.add_fault(kind="stream_cut", after_events=0, count=1)
    events = list(g.bedrock("sk-test-us-000001").converse_stream(modelId="claude", messages=[user("hi")])["stream"])
    assert "metadata" in events[-1]
