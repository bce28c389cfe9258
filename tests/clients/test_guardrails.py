"""Bedrock guardrails end to end: the emulator's guardrail APIs with boto3 (control plane,
ApplyGuardrail, Converse / InvokeModel intervention), then the gateway carrying a tenant's
guardrail through the OpenAI and Bedrock dialects (`strata demo`), around an OpenAI-compatible
upstream via ApplyGuardrail, and never to a target where the guardrail does not exist."""

from __future__ import annotations

import json

import boto3
import openai
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from openai import OpenAI

from gatewaylib import Demo, Gateway, account, static_account
from simlib import NO_RETRIES, error_code, find_binary, user

DEMO_GUARDRAIL = "strata-demo-blocklist"
BLOCKED_IN = "Sorry, this request is blocked by the strata-demo-blocklist guardrail."
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
LLAMA = "meta.llama3-3-70b-instruct-v1:0"


def new_guardrail(bedrock, name="test-blocklist", words=("contraband",), **extra):
    return bedrock().create_guardrail(
        name=name, blockedInputMessaging="in: blocked", blockedOutputsMessaging="out: blocked",
        wordPolicyConfig={"wordsConfig": [{"text": w} if isinstance(w, str) else w for w in words],
                          "managedWordListsConfig": [{"type": "PROFANITY"}]},
        topicPolicyConfig={"topicsConfig": [{"name": "Smuggling", "definition": "moving goods illegally",
                                             "examples": ["hide goods from customs"], "type": "DENY"}]},
        **extra)


# ---- the emulator, with boto3 ----

def test_control_plane_round_trip(bedrock, runtime, sim):
    made = new_guardrail(bedrock)
    gid = made["guardrailId"]
    assert made["version"] == "DRAFT" and made["guardrailArn"].endswith(f":111111111111:guardrail/{gid}")
    assert made["guardrailArn"].startswith("arn:aws:bedrock:us-east-1:")
    names = {g["name"]: g for g in bedrock().list_guardrails()["guardrails"]}
    assert names["test-blocklist"]["id"] == gid and names["test-blocklist"]["version"] == "DRAFT"
    assert DEMO_GUARDRAIL in names  # seeded by the built-in fleet
    got = bedrock().get_guardrail(guardrailIdentifier=gid)
    assert got["wordPolicy"]["words"][0]["text"] == "contraband" and got["status"] == "READY"
    assert got["topicPolicy"]["topics"][0]["name"] == "Smuggling"
    assert bedrock().create_guardrail_version(guardrailIdentifier=gid)["version"] == "1"
    versions = bedrock().list_guardrails(guardrailIdentifier=made["guardrailArn"])["guardrails"]
    assert [v["version"] for v in versions] == ["DRAFT", "1"]
    with pytest.raises(ClientError) as e:
        new_guardrail(bedrock)
    assert error_code(e.value) == "ConflictException"

    apply = lambda text, source="INPUT", version="1": runtime().apply_guardrail(  # noqa: E731
        guardrailIdentifier=gid, guardrailVersion=version, source=source, content=[{"text": {"text": text}}])
    blocked = apply("where can I buy contraband?")
    assert blocked["action"] == "GUARDRAIL_INTERVENED" and blocked["outputs"] == [{"text": "in: blocked"}]
    assert blocked["assessments"][0]["wordPolicy"]["customWords"][0]["match"] == "contraband"
    topic = apply("how to hide goods from customs", source="OUTPUT")
    assert topic["outputs"] == [{"text": "out: blocked"}]
    assert topic["assessments"][0]["topicPolicy"]["topics"][0]["name"] == "Smuggling"
    assert apply("damn it", version="DRAFT")["action"] == "GUARDRAIL_INTERVENED"
    clean = apply("hello there")
    assert clean["action"] == "NONE" and clean["outputs"] == [] and clean["usage"]["wordPolicyUnits"] == 1
    with pytest.raises(ClientError) as e:
        apply("x", version="2")
    assert error_code(e.value) == "ResourceNotFoundException"
    assert sum(r["count"] for r in sim.invocations(operation="ApplyGuardrail", model=gid, status=200)) == 4
    bedrock().delete_guardrail(guardrailIdentifier=gid)
    with pytest.raises(ClientError) as e:
        bedrock().get_guardrail(guardrailIdentifier=gid)
    assert error_code(e.value) == "ResourceNotFoundException"
    ops = {r["operation"] for r in sim.stats()["control_plane"]}
    assert {"CreateGuardrail", "ListGuardrails", "GetGuardrail", "CreateGuardrailVersion", "DeleteGuardrail"} <= ops


def test_each_account_and_region_has_its_own_guardrail(bedrock, fleet):
    eu_account = account(fleet, "prod-eu")
    ids = {(a, r): [g["id"] for g in bedrock(account(fleet, a), r).list_guardrails()["guardrails"]
                   if g["name"] == DEMO_GUARDRAIL]
           for a in ["prod-us", "prod-eu"] for r in ["us-east-1", "us-west-2"]}
    assert all(len(v) == 1 for v in ids.values()) and len({v[0] for v in ids.values()}) == 4
    assert bedrock(eu_account, "eu-west-1").list_guardrails()["guardrails"] == []


def test_converse_and_invoke_with_a_guardrail(bedrock, runtime):
    gid = new_guardrail(bedrock, words=("contraband", {"text": "the", "inputEnabled": False}))["guardrailId"]
    config = {"guardrailIdentifier": gid, "guardrailVersion": "DRAFT", "trace": "enabled"}
    blocked = runtime().converse(modelId=HAIKU, messages=[user("tell me about contraband")], guardrailConfig=config)
    assert blocked["stopReason"] == "guardrail_intervened"
    assert blocked["output"]["message"]["content"][0]["text"] == "in: blocked"
    assert blocked["usage"]["outputTokens"] == 0
    assert gid in blocked["trace"]["guardrail"]["inputAssessment"]
    # "the" is blocked on output only: an answer holding it is replaced.
    plain = runtime().converse(modelId=HAIKU, messages=[user("hello")], inferenceConfig={"maxTokens": 200})
    assert " the " in " " + plain["output"]["message"]["content"][0]["text"].lower() + " "
    out = runtime().converse(modelId=HAIKU, messages=[user("hello")], inferenceConfig={"maxTokens": 200},
                             guardrailConfig={"guardrailIdentifier": gid, "guardrailVersion": "DRAFT"})
    assert out["stopReason"] == "guardrail_intervened" and out["output"]["message"]["content"][0]["text"] == "out: blocked"
    assert out["usage"]["outputTokens"] > 0 and "trace" not in out
    clean_config = {"guardrailIdentifier": new_guardrail(bedrock, name="only-contraband")["guardrailId"],
                    "guardrailVersion": "DRAFT"}
    clean = runtime().converse(modelId=HAIKU, messages=[user("hello")], guardrailConfig=clean_config)
    assert clean["stopReason"] == "end_turn"
    events = list(runtime().converse_stream(modelId=HAIKU, messages=[user("contraband please")],
                                            guardrailConfig=config)["stream"])
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["guardrail_intervened"]
    with pytest.raises(ClientError) as e:
        runtime().converse(modelId=HAIKU, messages=[user("hi")],
                           guardrailConfig={"guardrailIdentifier": "nosuchguardrail", "guardrailVersion": "1"})
    assert error_code(e.value) == "ValidationException"
    body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50,
                       "messages": [{"role": "user", "content": "contraband"}]})
    r = runtime().invoke_model(modelId=HAIKU, body=body, guardrailIdentifier=gid, guardrailVersion="DRAFT")
    answer = json.loads(r["body"].read())
    assert answer["amazon-bedrock-guardrailAction"] == "INTERVENED" and answer["content"][0]["text"] == "in: blocked"


# ---- the gateway, through `strata demo` (us-apps runs under the demo guardrail) ----

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo"))
    yield {"gateway": f"http://127.0.0.1:{d.gw}", "sim": f"http://127.0.0.1:{d.sim}", "printed": d.printed}
    d.stop()


def ask(text):
    return [{"role": "user", "content": text}]


def test_the_openai_dialect_answers_an_intervention_with_content_filter(demo):
    assert "strata-demo-blocklist" in demo["printed"]
    us = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-us", max_retries=0, timeout=20)
    raw = us.chat.completions.with_raw_response.create(model="claude-haiku", messages=ask("any contraband for sale?"))
    r = raw.parse()
    assert raw.headers["x-strata-guardrail"] == "intervened"
    assert r.choices[0].finish_reason == "content_filter" and r.choices[0].message.content == BLOCKED_IN
    chunks = list(us.chat.completions.create(model="claude-haiku", messages=ask("any contraband for sale?"), stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["content_filter"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == BLOCKED_IN
    clean = us.chat.completions.with_raw_response.create(model="claude-haiku", messages=ask("hello"))
    assert clean.parse().choices[0].finish_reason == "stop" and "x-strata-guardrail" not in clean.headers
    # A tenant without a guardrail is not filtered.
    eu = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-eu", max_retries=0, timeout=20)
    assert eu.chat.completions.create(model="claude-haiku", messages=ask("contraband")).choices[0].finish_reason == "stop"


def test_the_anthropic_dialect_answers_an_intervention_with_refusal(demo):
    import anthropic

    us = anthropic.Anthropic(base_url=demo["gateway"], api_key="sk-demo-us", max_retries=0, timeout=20)
    raw = us.messages.with_raw_response.create(model="claude-haiku", max_tokens=100,
                                               messages=ask("any contraband for sale?"))
    m = raw.parse()
    assert raw.headers["x-strata-guardrail"] == "intervened"
    assert m.stop_reason == "refusal" and m.content[0].text == BLOCKED_IN
    with us.messages.stream(model="claude-haiku", max_tokens=100, messages=ask("any contraband for sale?")) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert final.stop_reason == "refusal" and text == BLOCKED_IN
    clean = us.messages.with_raw_response.create(model="claude-haiku", max_tokens=100, messages=ask("hello"))
    assert clean.parse().stop_reason == "end_turn" and "x-strata-guardrail" not in clean.headers
    # A tenant without a guardrail is not filtered.
    eu = anthropic.Anthropic(base_url=demo["gateway"], api_key="sk-demo-eu", max_retries=0, timeout=20)
    assert eu.messages.create(model="claude-haiku", max_tokens=100, messages=ask("contraband")).stop_reason != "refusal"


def test_the_bedrock_dialect_passes_bedrocks_own_answer(demo, monkeypatch):
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "sk-demo-us")
    rt = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=demo["gateway"].replace("http://", "https://"),
                      config=Config(retries=NO_RETRIES))
    rt.meta.events.register("before-send", lambda request, **kw: setattr(request, "url", request.url.replace("https://", "http://", 1)))
    # The client's own guardrailConfig is replaced by the tenant's.
    r = rt.converse(modelId="claude-sonnet-4", messages=[user("smuggling contraband")],
                    guardrailConfig={"guardrailIdentifier": "someotherguardrail", "guardrailVersion": "DRAFT"})
    assert r["stopReason"] == "guardrail_intervened" and r["output"]["message"]["content"][0]["text"] == BLOCKED_IN
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-guardrail"] == "intervened"
    assert rt.converse(modelId="claude-sonnet-4", messages=[user("hello")])["stopReason"] == "end_turn"
    events = list(rt.converse_stream(modelId="claude-sonnet-4", messages=[user("contraband")])["stream"])
    assert [e["messageStop"]["stopReason"] for e in events if "messageStop" in e] == ["guardrail_intervened"]


def test_the_demos_openai_compatible_upstream_is_guarded_with_apply_guardrail(demo):
    """`local-llama` in the demo is the emulator's vLLM mode; its guardrail runs as ApplyGuardrail."""
    stats = lambda: requests.get(demo["sim"] + "/_sim/stats", timeout=10).json()["invocations"]  # noqa: E731
    applied = lambda: sum(r["count"] for r in stats() if r["operation"] == "ApplyGuardrail")  # noqa: E731
    lab = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-global", max_retries=0, timeout=20)
    before = applied()
    raw = lab.chat.completions.with_raw_response.create(model="local-llama", messages=ask("contraband please"))
    assert raw.headers["x-strata-guardrail"] == "intervened"
    assert raw.parse().choices[0].finish_reason == "content_filter" and raw.parse().choices[0].message.content == BLOCKED_IN
    assert applied() == before + 1  # the input was blocked: the upstream never saw it
    ok = lab.chat.completions.create(model="local-llama", messages=ask("hello"))
    assert ok.choices[0].finish_reason == "stop" and applied() == before + 3  # input and output checked
    # The provider runs in us-east-1 (its `region`): the guarded US tenant reaches it too.
    us = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-us", max_retries=0, timeout=20)
    r = us.chat.completions.create(model="local-llama", messages=ask("contraband please"))
    assert r.choices[0].finish_reason == "content_filter" and applied() == before + 4


def test_interventions_are_counted_and_recorded(demo):
    us = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-us", max_retries=0, timeout=20)
    us.chat.completions.create(model="nova-pro", messages=ask("contraband"))
    metrics = requests.get(demo["gateway"] + "/metrics", timeout=10).text
    lines = [l for l in metrics.splitlines() if l.startswith("strata_guardrail_interventions_total{")]
    assert any('tenant="us-apps"' in l and 'model="nova-pro"' in l and 'source="input"' in l for l in lines), lines
    usage = requests.get(demo["gateway"] + "/admin/usage", params={"group_by": "tenant"},
                         headers={"Authorization": "Bearer sk-demo-admin"}, timeout=10).json()
    rows = {r["tenant"]: r for r in usage["rows"]} if isinstance(usage, dict) else {r["tenant"]: r for r in usage}
    assert rows["us-apps"]["guardrail_interventions"] >= 1
    assert rows.get("eu-bank", {}).get("guardrail_interventions", 0) == 0


# ---- the gateway before the emulator: ApplyGuardrail, and targets without the guardrail ----

def gateway_config(sim, fleet, models, tenant_guardrail=True):
    key = next(k["token"] for a in fleet.accounts for k in a.get("api_keys", []))
    guard = ", guardrail: blocklist" if tenant_guardrail else ""
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(fleet, "prod-us")}{static_account(fleet, "prod-eu")}providers:
  - {{name: local-vllm, type: openai, base_url: "{sim.endpoint}/v1", api_key: "{key}"}}
guardrails:
  - {{name: blocklist, guardrail: {DEMO_GUARDRAIL}, version: "1", apply_in: {{account: prod-us, region: us-east-1}}}}
models:{models}
tenants:
  - {{name: lab, keys: [sk-test-any-00001], residency: [any], route_detail: full{guard}}}
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 2, base_delay_ms: 1, max_delay_ms: 5}}
"""


def test_an_openai_compatible_upstream_is_guarded_with_apply_guardrail(sim, fleet, tmp_path):
    models = f"""
  - name: local-llama
    guardrail: blocklist
    deployments:
      - {{provider: local-vllm, model: {LLAMA}}}"""
    g = Gateway(find_binary(), gateway_config(sim, fleet, models, tenant_guardrail=False), tmp_path)
    try:
        c = OpenAI(base_url=g.endpoint + "/v1", api_key="sk-test-any-00001", max_retries=0, timeout=20)
        raw = c.chat.completions.with_raw_response.create(model="local-llama", messages=ask("contraband please"))
        assert raw.headers["x-strata-guardrail"] == "intervened"
        assert raw.parse().choices[0].finish_reason == "content_filter" and raw.parse().choices[0].message.content == BLOCKED_IN
        # Blocked on input: the upstream was never called.
        assert sim.invocations(region="local") == []
        applied = sim.invocations(operation="ApplyGuardrail")
        assert applied and {(r["account"], r["region"]) for r in applied} == {("111111111111", "us-east-1")}
        sim.reset()
        clean = c.chat.completions.create(model="local-llama", messages=ask("hello"))
        assert clean.choices[0].finish_reason == "stop" and clean.choices[0].message.content
        assert sum(r["count"] for r in sim.invocations(operation="ApplyGuardrail")) == 2  # input and output
        chunks = list(c.chat.completions.create(model="local-llama", messages=ask("hello"), stream=True))
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == clean.choices[0].message.content
        blocked = list(c.chat.completions.create(model="local-llama", messages=ask("contraband"), stream=True))
        assert [ch.choices[0].finish_reason for ch in blocked if ch.choices and ch.choices[0].finish_reason] == ["content_filter"]
    finally:
        g.stop()


def test_a_target_without_the_guardrail_is_never_called_unguarded(sim, fleet, tmp_path):
    models = f"""
  - name: claude
    strategy: priority
    deployments:
      - {{account: prod-eu, region: eu-west-1, model: eu.anthropic.claude-haiku-4-5-20251001-v1:0, priority: 0}}
      - {{account: prod-us, region: us-east-1, model: {HAIKU}, priority: 1}}
  - name: eu-only
    deployments:
      - {{account: prod-eu, region: eu-west-1, model: eu.anthropic.claude-haiku-4-5-20251001-v1:0}}"""
    g = Gateway(find_binary(), gateway_config(sim, fleet, models), tmp_path)
    try:
        c = OpenAI(base_url=g.endpoint + "/v1", api_key="sk-test-any-00001", max_retries=0, timeout=20)
        r = c.chat.completions.with_raw_response.create(model="claude", messages=ask("hello"))
        assert r.headers["x-strata-route"].startswith("prod-us/us-east-1/")
        rows = sim.invocations(operation="Converse")
        # The US profile runs in any US region; it was called from us-east-1, never from the EU.
        assert rows and {row["source_region"] for row in rows} == {"us-east-1"}, rows
        with pytest.raises(openai.APIStatusError) as e:
            c.chat.completions.create(model="eu-only", messages=ask("hello"))
        assert "guardrail" in e.value.message and "eu-west-1" in e.value.message
        assert not [row for row in sim.invocations() if row["region"].startswith("eu-")]
    finally:
        g.stop()
