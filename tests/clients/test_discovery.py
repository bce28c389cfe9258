"""Discovery-driven routing end to end: `strata serve` scans the emulator's control plane, compiles
intents into candidates, keeps EU traffic in the EU (checked in the emulator's own stats), falls
back to the baseline when the catalog lies, follows model launches and access revocations
within a refresh interval, and routes from its cached catalog after a restart. Also the
`strata discover | routes | check` commands."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import requests
from botocore.exceptions import ClientError
from openai import OpenAI

from gatewaylib import admin_get, gateways, static_account, wait_for_round
from simlib import find_binary

SONNET4 = "anthropic.claude-sonnet-4-20250514-v1:0"
SONNET45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"
NOVA = "amazon.nova-pro-v1:0"
LLAMA = "meta.llama3-3-70b-instruct-v1:0"
ADMIN = "sk-test-admin-0001"
EU_KEY = "sk-test-eu-000001"
US_KEY = "sk-test-us-000001"
ANY_KEY = "sk-test-any-00001"
EU_REGIONS = {"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"}


def user(text):
    return {"role": "user", "content": [{"text": text}]}


TENANTS = f"""
  - {{name: us-apps, keys: [{US_KEY}], residency: [us], route_detail: full}}
  - {{name: eu-bank, keys: [{EU_KEY}], residency: [eu], route_detail: full}}
  - {{name: lab, keys: [{ANY_KEY}], residency: [any], route_detail: full}}"""

# Every tenant granted only models it has candidates for (what `strata check` wants).
CHECKED_TENANTS = f"""
  - {{name: us-apps, keys: [{US_KEY}], residency: [us], route_detail: full, models: [claude, claude-45]}}
  - {{name: eu-bank, keys: [{EU_KEY}], residency: [eu], route_detail: full, models: [claude, claude-45, nova]}}
  - {{name: lab, keys: [{ANY_KEY}], residency: [any], route_detail: full}}"""


def config(sim, *, refresh=1, cache_file=None, models=None, baseline=None, tenants=TENANTS, extra=""):
    f = sim.fleet
    hub = next(a for a in f.accounts if a["name"] == "gateway-hub")
    eu_id = next(a for a in f.accounts if a["name"] == "prod-eu")["id"]
    models = models or f"""
  - name: claude
    strategy: priority
    discover: {{model: {SONNET4}, layers: [geography, global]}}
  - name: claude-45
    discover: {{model: {SONNET45}, layers: [geography], accounts: [prod-eu]}}
  - name: nova
    discover: {{model: {NOVA}, layers: [in_region], accounts: [prod-eu], regions: [eu-west-2]}}
  - name: llama
    discover: {{model: {LLAMA}, layers: [in_region], accounts: [prod-eu]}}
"""
    baseline = baseline or f"""
baseline:
  eu:
    - {{account: prod-eu, region: eu-central-1, model: eu.{SONNET4}, models: [claude, claude-45]}}
    - {{account: prod-eu, region: eu-central-1, model: eu.{NOVA}}}
  us:
    - {{account: prod-us, region: us-east-1, model: us.{SONNET4}, models: [claude, claude-45]}}
"""
    cache = f"\n  cache_file: {cache_file}" if cache_file else ""
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}  - name: prod-eu
    credentials:
      type: assume_role
      role_arn: arn:aws:iam::{eu_id}:role/StrataGateway
      source: {{type: static, access_key_id: {hub["access_key_id"]}, secret_access_key: {hub["secret_access_key"]}}}
discovery:
  refresh_seconds: {refresh}{cache}
models:{models}{baseline}
tenants:{tenants}
admin:
  keys: [{ADMIN}]
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 3, base_delay_ms: 1, max_delay_ms: 20}}
  cooldown: {{failures: 100, window_ms: 1000, duration_ms: 1000}}
{extra}"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    yield from gateways(tmp_path, monkeypatch, lambda: config(sim), after_start=lambda g: wait_for_round(g, ADMIN))


def executed_regions(sim):
    return {(i["region"], i["status"]) for i in sim.invocations()}


def routes(g, **params):
    r = admin_get(g, "/admin/routes", ADMIN, **params)
    assert r.status_code == 200, r.text
    return r.json()


def test_intents_compile_from_the_catalog_with_reasons(sim, gateway):
    g = gateway()
    report = routes(g, model="claude-45", explain="true")
    model = report["models"][0]
    # prod-eu lacks Sonnet 4.5 in eu-south-2, a destination of the eu. profile: seed-002's rule.
    assert model["candidates"], "its us./jp./au. profiles are fine"
    assert not any(c["model_id"].startswith("eu.") for c in model["candidates"]), model["candidates"]
    assert any("eu-south-2" in e["reason"] and "not authorized" in e["reason"] for e in model["excluded"])
    claude = routes(g, model="claude", tenant="eu-bank", explain="true")["models"][0]
    assert claude["candidates"], "discovery found no Sonnet 4 profiles"
    eu_view = claude["tenants"][0]
    assert eu_view["tenant"] == "eu-bank" and eu_view["allowed"]
    by_target = {c["target"]: c for c in claude["candidates"]}
    for target in eu_view["allowed"]:
        assert set(by_target[target]["runs_in"]) <= EU_REGIONS, by_target[target]
    assert any("outside the tenant's residency" in e["reason"] for e in eu_view["excluded"])
    # Without `cache_file` the catalog is cached beside the config.
    cached = g.config_path.with_name(g.config_path.name + ".catalog.json")
    assert cached.exists() and '"scans"' in cached.read_text()
    # The dashboard's matrix: per account, with cells the account may not invoke.
    matrix = admin_get(g, "/admin/matrix", ADMIN, account="prod-eu").json()
    assert matrix["account"] == "prod-eu" and matrix["rows"] and matrix["columns"]
    access = {c["access"] for a in matrix["accounts"]
              for r in admin_get(g, "/admin/matrix", ADMIN, account=a).json()["rows"] for c in r["cells"] if c}
    assert {"on_demand", "no_access"} <= access, access
    # Non-admin keys cannot read the admin API.
    assert admin_get(g, "/admin/routes", EU_KEY).status_code == 403
    assert admin_get(g, "/admin/routes", "nope-nope-nope").status_code == 401
    assert admin_get(g, "/admin/routes", ADMIN, tenant="nobody").status_code == 404


def test_eu_tenant_traffic_only_ever_runs_in_the_eu(sim, gateway):
    g = gateway()
    rt = g.bedrock(EU_KEY)
    for i in range(30):
        r = rt.converse(modelId="claude", messages=[user(f"hello {i}")], inferenceConfig={"maxTokens": 5})
        assert r["stopReason"]
    list(rt.converse_stream(modelId="claude", messages=[user("stream")])["stream"])
    client = OpenAI(base_url=g.endpoint + "/v1", api_key=EU_KEY, max_retries=0)
    client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    rows = sim.invocations()
    assert len(rows) >= 3
    assert {i["region"] for i in rows} <= EU_REGIONS, rows


def test_eu_residency_holds_under_eu_outages_and_catalog_lies(sim, gateway):
    g = gateway()
    for region in ["eu-central-1", "eu-west-1", "eu-north-1"]:
        sim.add_fault(kind="outage", region=region)
    sim.add_fault(kind="catalog_lie", region="eu-west-3", model=SONNET4)
    rt = g.bedrock(EU_KEY)
    ok = 0
    for i in range(20):
        try:
            rt.converse(modelId="claude", messages=[user(f"outage {i}")], inferenceConfig={"maxTokens": 5})
            ok += 1
        except ClientError:
            pass
    assert ok > 0, g.stderr()
    rows = sim.invocations()
    assert rows and {i["region"] for i in rows} <= EU_REGIONS, rows
    # Every EU region down: requests fail, and still nothing ran outside the EU.
    for region in EU_REGIONS - {"eu-central-1", "eu-west-1", "eu-north-1"}:
        sim.add_fault(kind="outage", region=region)
    with pytest.raises(ClientError):
        rt.converse(modelId="claude", messages=[user("all down")])
    assert {i["region"] for i in sim.invocations()} <= EU_REGIONS


def test_a_catalog_lie_ends_in_the_baseline_and_succeeds(sim, gateway):
    g = gateway()
    # The control plane keeps advertising Nova Pro in eu-west-2; runtime calls are rejected.
    sim.add_fault(kind="catalog_lie", account="prod-eu", region="eu-west-2", model=NOVA)
    rt = g.bedrock(EU_KEY)
    r = rt.converse(modelId="nova", messages=[user("lie")], inferenceConfig={"maxTokens": 5})
    headers = r["ResponseMetadata"]["HTTPHeaders"]
    assert headers.get("x-strata-baseline") == "true", headers
    assert headers["x-strata-route"] == f"prod-eu/eu-central-1/eu.{NOVA}"
    statuses = [(i["source_region"], i["status"]) for i in sim.invocations()]
    assert ("eu-west-2", 400) in statuses and ("eu-central-1", 200) in statuses, statuses
    assert {i["region"] for i in sim.invocations()} <= EU_REGIONS
    metrics = requests.get(g.endpoint + "/metrics", timeout=10).text
    assert 'strata_baseline_total{model="nova",outcome="ok"}' in metrics
    assert 'strata_fallbacks_total{kind="baseline",model="nova"} 1' in metrics
    # Through the OpenAI API as well.
    client = OpenAI(base_url=g.endpoint + "/v1", api_key=EU_KEY, max_retries=0)
    resp = client.chat.completions.with_raw_response.create(
        model="nova", messages=[{"role": "user", "content": "lie again"}], max_tokens=5)
    assert resp.headers.get("x-strata-baseline") == "true"
    # A request that is really invalid is refused by the baseline too: the error is the client's.
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="nova", messages=[])
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_a_launched_model_becomes_routable_within_one_refresh(sim, gateway):
    g = gateway()
    rt = g.bedrock(EU_KEY)
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="llama", messages=[user("not yet")])
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    launched_at = int(time.time())
    r = sim.post("/_sim/catalog/models", {"model": LLAMA, "region": "eu-west-1", "on_demand": True})
    assert r.status_code == 200, r.text
    wait_for_round(g, ADMIN, after=launched_at + 1)
    r = rt.converse(modelId="llama", messages=[user("now")], inferenceConfig={"maxTokens": 5})
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"] == f"prod-eu/eu-west-1/{LLAMA}"
    events = admin_get(g, "/admin/events", ADMIN).json()["events"]
    assert any(e["event"] == "model_added" and e["model"] == LLAMA and e["region"] == "eu-west-1" for e in events)


def test_revoked_access_stops_traffic(sim, gateway):
    g = gateway()
    rt = g.bedrock(EU_KEY)
    rt.converse(modelId="nova", messages=[user("before")])
    assert sim.invocations(source_region="eu-west-2", status=200)
    revoked_at = int(time.time())
    sim.set_access(account="prod-eu", region="eu-west-2", model=NOVA, granted=False)
    wait_for_round(g, ADMIN, after=revoked_at + 1)
    before = len(sim.invocations(source_region="eu-west-2"))
    for i in range(5):
        r = rt.converse(modelId="nova", messages=[user(f"after {i}")])
        assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-baseline"] == "true"
    assert len(sim.invocations(source_region="eu-west-2")) == before, "a revoked target still got traffic"
    report = routes(g, model="nova", explain="true")["models"][0]
    assert not report["candidates"]
    assert any("not authorized" in e["reason"] for e in report["excluded"])
    events = admin_get(g, "/admin/events", ADMIN).json()["events"]
    assert any(e["event"] == "access_lost" and e["model"] == NOVA for e in events)


def test_a_failed_scan_keeps_the_last_good_catalog_as_stale(sim, gateway):
    g = gateway()
    failed_from = int(time.time())
    sim.add_fault(kind="throttle", plane="control")
    body = wait_for_round(g, ADMIN, after=failed_from + 1)
    scans = body["catalog"]["scans"]
    assert scans and all(s["freshness"]["state"] == "stale" for s in scans), scans[0]["freshness"]
    assert all(s["models"] for s in scans if s["account"] == "prod-us")
    r = g.bedrock(EU_KEY).converse(modelId="claude", messages=[user("stale but fine")])
    assert r["stopReason"]
    metrics = requests.get(g.endpoint + "/metrics", timeout=10).text
    assert "strata_catalog_scan_stale{" in metrics


def test_a_restart_routes_from_the_cached_catalog_before_scanning(sim, gateway, tmp_path):
    cache = tmp_path / "catalog.json"
    first = gateway(config(sim, refresh=60, cache_file=cache))
    assert cache.exists()
    first.stopped_by_test = True
    first.stop()
    # The control plane is down now: the new gateway cannot scan, but it has its cache.
    sim.add_fault(kind="outage", plane="control")
    second = gateway(config(sim, refresh=60, cache_file=cache), wait=False)
    r = second.bedrock(EU_KEY).converse(modelId="claude", messages=[user("from cache")])
    # Served by a discovered candidate (from the cache), not by the baseline.
    assert "x-strata-baseline" not in r["ResponseMetadata"]["HTTPHeaders"]
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"].split("/")[2].startswith("eu.")
    assert {i["region"] for i in sim.invocations()} <= EU_REGIONS


# ---- the command-line tools ----


def run_cli(*args, env_sim=None):
    return subprocess.run([str(find_binary()), *args], capture_output=True, text=True, timeout=120)


def test_discover_prints_a_matrix_and_json(sim, tmp_path):
    path = tmp_path / "gw.yaml"
    path.write_text(config(sim))
    out = run_cli("discover", "--config", str(path))
    assert out.returncode == 0, out.stderr
    assert "account prod-eu" in out.stdout and SONNET4 in out.stdout and "×" in out.stdout
    out = run_cli("discover", "--config", str(path), "--json")
    assert out.returncode == 0, out.stderr
    catalog = json.loads(out.stdout)
    eu = next(s for s in catalog["scans"] if s["account"] == "prod-eu" and s["region"] == "eu-south-2")
    assert eu["models"][SONNET45]["access"]["authorized"] is False
    assert sim.stats()["control_plane"], "discover called the emulator's control plane"
    # A config with nothing but accounts (and where to scan) is enough for `discover`.
    bare = tmp_path / "accounts-only.yaml"
    bare.write_text(f"""
aws: {{endpoint_url: "{sim.endpoint}"}}
discovery: {{regions: [eu-west-1, us-east-1]}}
accounts:
{static_account(sim.fleet, "prod-us")}""")
    out = run_cli("discover", "--config", str(bare))
    assert out.returncode == 0, out.stderr
    assert "2 account x region scans" in out.stdout and "use1" in out.stdout and "euw1" in out.stdout



def test_routes_and_check(sim, tmp_path):
    path = tmp_path / "gw.yaml"
    path.write_text(config(sim, tenants=CHECKED_TENANTS))
    out = run_cli("routes", "--config", str(path), "--tenant", "eu-bank", "--model", "claude", "--explain", "--json")
    assert out.returncode == 0, out.stderr
    view = json.loads(out.stdout)["models"][0]["tenants"][0]
    assert view["allowed"] and view["excluded"]
    text = run_cli("routes", "--config", str(path), "--model", "claude-45", "--explain")
    assert "eu-south-2" in text.stdout and "not authorized" in text.stdout
    # claude-45 has no candidate for eu-bank (only the baseline): a warning, not an error.
    good = run_cli("check", "--config", str(path))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(config(sim, models=f"""
  - name: claude
    discover: {{model: anthropic.claude-nonexistent-v9:0}}
    deployments:
      - {{account: prod-eu, region: eu-west-1, model: eu.{SONNET45}}}
""", baseline=f"""
baseline:
  eu:
    - {{account: prod-eu, region: eu-west-1, model: {SONNET4}, models: [claude]}}
"""))
    out = run_cli("check", "--config", str(bad))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "anthropic.claude-nonexistent-v9:0" in out.stdout and "not offered" in out.stdout
    assert "eu-south-2" in out.stdout, "the pinned eu. profile lacks access in a destination"
    assert "cannot be called on demand" in out.stdout, "the baseline target is profile-only there"
    assert "tenant 'eu-bank'" in out.stdout
