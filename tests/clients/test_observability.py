"""What an operator reads off a running gateway, driven by the real `openai` and `boto3` clients
against `strata serve` in front of `strata sim --zero-latency`:
- `/metrics` carries the families and bounded labels docs/operations.md promises: requests by
  tenant, model, dialect and outcome; tokens by kind; cost in dollars equal to the usage
  records'; upstream attempts by account, region and target kind; availability by account,
  region and model or profile; the catalog's age; discovery's duration;
- the JSON access log: one object per request (its `x-request-id`, tenant, route, tokens,
  latency, TTFT), never prompt text, and CloudWatch Embedded Metric Format directives that
  name only members the document has, plus availability documents per account × region."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from openai import OpenAI

from gatewaylib import admin_get, gateways, static_account, wait_for_round

US_KEY = "sk-test-us-000001"
EU_KEY = "sk-test-eu-000001"
ADMIN = "sk-test-admin-0001"
NOVA = "amazon.nova-pro-v1:0"
SECRET = "zebra-canary-5f1d"
# Every label a Strata metric may carry: bounded sets (names from the config and the catalog,
# fixed words), never request ids or free text.
ALLOWED_LABELS = {"tenant", "model", "dialect", "outcome", "kind", "account", "region", "target_kind", "target",
                  "limit", "source", "state", "profile", "reason", "result", "le", "quantile"}


def config(sim, access_log: str = "") -> str:
    f = sim.fleet
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}{static_account(f, "prod-eu")}
discovery: {{refresh_seconds: 300}}
models:
  - name: nova
    discover: {{model: {NOVA}, layers: [in_region, geography]}}
  - name: nova-pinned
    deployments:
      - {{account: prod-us, region: us-east-1, model: {NOVA}}}
tenants:
  - {{name: us-apps, keys: [{US_KEY}], residency: [us]}}
  - {{name: eu-bank, keys: [{EU_KEY}], residency: [eu]}}
admin:
  keys: [{ADMIN}]
{access_log}"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    def ready(g):
        wait_for_round(g, ADMIN)

    yield from gateways(tmp_path, monkeypatch, lambda: config(sim), after_start=ready)


def samples(text: str, name: str) -> list[tuple[dict, float]]:
    out = []
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if m and m.group(1) == name:
            out.append((dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or "")), float(m.group(3))))
    return out


def total(text: str, name: str, **labels) -> float:
    return sum(v for got, v in samples(text, name) if all(got.get(k) == w for k, w in labels.items()))


def test_metrics_carry_tenant_dialect_cost_and_availability(gateway):
    g = gateway()
    eu = OpenAI(base_url=g.endpoint + "/v1", api_key=EU_KEY, max_retries=0)
    for i in range(3):
        eu.chat.completions.create(model="nova", messages=[{"role": "user", "content": f"hi {i}"}], max_tokens=5)
    rt = g.bedrock(US_KEY)
    r = rt.converse(modelId="nova-pinned", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    us_usage = r["usage"]
    with pytest.raises(Exception):
        eu.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    text = requests.get(g.endpoint + "/metrics", timeout=10).text

    assert total(text, "strata_requests_total", tenant="eu-bank", model="nova", dialect="openai", outcome="ok") == 3
    assert total(text, "strata_requests_total", tenant="us-apps", model="nova-pinned", dialect="bedrock",
                 outcome="ok") == 1, [s for s in samples(text, "strata_requests_total")]
    assert total(text, "strata_tokens_total", tenant="us-apps", model="nova-pinned", kind="input") == us_usage["inputTokens"]
    assert total(text, "strata_tokens_total", tenant="us-apps", model="nova-pinned", kind="output") == us_usage["outputTokens"]

    # Cost in dollars, equal to what the usage records say.
    deadline = time.monotonic() + 10
    while True:  # usage records are written off the request path
        usage = admin_get(g, "/admin/usage", ADMIN).json()["rows"]
        if sum(r["requests"] for r in usage if r["tenant"]) >= 5 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for tenant, model in [("eu-bank", "nova"), ("us-apps", "nova-pinned")]:
        recorded = sum(r["cost_usd"] for r in usage if r["tenant"] == tenant and r["model"] == model)
        counted = total(text, "strata_cost_usd_total", tenant=tenant, model=model)
        assert recorded > 0 and counted == pytest.approx(recorded, rel=1e-6), (tenant, model, recorded, counted)
    assert "# TYPE strata_cost_usd_total counter" in text

    # Attempts by account, region and kind: the EU tenant's ran in the EU, the pinned one in-region.
    eu_attempts = [l for l, _ in samples(text, "strata_upstream_attempts_total") if l.get("outcome") == "ok"
                   and l.get("region", "").startswith("eu-")]
    assert eu_attempts and all(l["target_kind"] in {"in_region", "geography"} for l in eu_attempts), eu_attempts
    assert total(text, "strata_upstream_attempts_total", account="prod-us", region="us-east-1",
                 target_kind="in_region", target=NOVA, outcome="ok") == 1

    # Availability by account × region × model or profile, the catalog's age, discovery's time.
    assert total(text, "strata_model_available", account="prod-us", region="us-east-1", model=NOVA, kind="model") == 1
    assert total(text, "strata_model_available", account="prod-eu", region="eu-central-1", model="eu." + NOVA,
                 kind="profile") == 1
    ages = samples(text, "strata_catalog_age_seconds")
    assert {l["account"] for l, _ in ages} == {"prod-us", "prod-eu"} and len(ages) > 20, ages
    assert all(0 <= v < 300 for _, v in ages), ages
    assert total(text, "strata_discovery_duration_seconds_count") >= 1

    # Every family says what it is, and no label is unbounded.
    families = set(re.findall(r"^# TYPE (strata_\w+) ", text, re.M))
    helped = set(re.findall(r"^# HELP (strata_\w+) ", text, re.M))
    assert families <= helped, families - helped
    for line in text.splitlines():
        if line.startswith("strata_") and "{" in line:
            names = set(re.findall(r'(\w+)="', line.split("{", 1)[1].rsplit("}", 1)[0]))
            assert names <= ALLOWED_LABELS, line
    tenants = {l["tenant"] for l, _ in samples(text, "strata_requests_total")}
    assert tenants <= {"us-apps", "eu-bank", ""}, tenants


def test_json_access_log_with_cloudwatch_emf(sim, gateway, tmp_path):
    log = tmp_path / "access.jsonl"
    g = gateway(config(sim, f"""access_log:
  format: json
  output: {log}
  cloudwatch_emf: {{namespace: StrataTest}}
"""))
    eu = OpenAI(base_url=g.endpoint + "/v1", api_key=EU_KEY, max_retries=0)
    raw = eu.chat.completions.with_raw_response.create(
        model="nova", messages=[{"role": "user", "content": SECRET}], max_tokens=5)
    answered_id = raw.headers["x-request-id"]
    answered = raw.parse()
    stream = eu.chat.completions.create(model="nova", messages=[{"role": "user", "content": SECRET}], max_tokens=8,
                                        stream=True, stream_options={"include_usage": True})
    streamed_usage = [c.usage for c in stream if c.usage][-1]
    with pytest.raises(Exception):
        eu.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": SECRET}])

    deadline = time.monotonic() + 10
    lines: list[dict] = []
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        lines = [json.loads(l) for l in text.splitlines() if l.strip()]
        if len([l for l in lines if "request_id" in l]) >= 3:
            break
        time.sleep(0.1)
    assert SECRET not in log.read_text()
    requests_ = [l for l in lines if "request_id" in l]
    assert len(requests_) == 3, requests_

    first = next(l for l in requests_ if l["request_id"] == answered_id)
    assert first["tenant"] == "eu-bank" and first["dialect"] == "openai" and first["model"] == "nova"
    assert first["outcome"] == "ok" and first["status"] == 200 and first["route"].split("/")[1].startswith("eu-")
    assert first["input_tokens"] == answered.usage.prompt_tokens
    assert first["output_tokens"] == answered.usage.completion_tokens
    assert first["duration_ms"] > 0 and first["cost_usd"] > 0 and first["time"].endswith("Z")
    streamed = requests_[1]
    assert streamed["output_tokens"] == streamed_usage.completion_tokens and streamed["ttft_ms"] > 0
    failed = requests_[2]
    assert failed["outcome"] != "ok" and failed["error_class"] and failed["status"] >= 400

    for doc in requests_:
        directive = doc["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == "StrataTest" and isinstance(doc["_aws"]["Timestamp"], int)
        for dims in directive["Dimensions"]:
            assert all(isinstance(doc[d], str) and doc[d] for d in dims), (dims, doc)
        for m in directive["Metrics"]:
            assert isinstance(doc[m["Name"]], (int, float)), (m, doc)
    assert first["Requests"] == 1 and first["Errors"] == 0 and first["Model"] == "nova" and first["Tenant"] == "eu-bank"
    assert failed["Errors"] == 1
    assert "TimeToFirstToken" in {m["Name"] for m in streamed["_aws"]["CloudWatchMetrics"][0]["Metrics"]}

    # Availability: one document per account × region, and per region × model.
    scans = [l for l in lines if "ModelsAvailable" in l]
    scanned = admin_get(g, "/admin/catalog", ADMIN).json()["catalog"]["scans"]
    assert {(s["Account"], s["Region"]) for s in scans} == {(s["account"], s["region"]) for s in scanned}
    assert all(s["ModelsAvailable"] > 0 and s["ScanStale"] == 0 for s in scans), scans
    per_model = [l for l in lines if "ModelAvailable" in l]
    nova_eu = [m for m in per_model if m["Model"] == NOVA and m["Region"] == "us-east-1"]
    assert nova_eu and nova_eu[0]["ModelAvailable"] == 1 and nova_eu[0]["AccountsAvailable"] >= 1, nova_eu


def test_cloudwatch_emf_without_json_is_refused(sim, tmp_path):
    from simlib import find_binary
    import subprocess

    path = tmp_path / "bad.yaml"
    path.write_text(config(sim, "access_log: {cloudwatch_emf: {}}\n"))
    out = subprocess.run([str(find_binary()), "check", "--config", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "access_log.cloudwatch_emf" in out.stdout + out.stderr, out
