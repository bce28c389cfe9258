"""Service Quotas as catalog data, end to end (issue 15, "Quotas as catalog data"): `strata serve`
reads every account × region's Bedrock quotas from the emulator (ListServiceQuotas, signed for
`servicequotas`), maps each name to the model or profile it governs, and the catalog on
/admin/catalog equals what the emulator enforces (GET /_sim/quotas). A quota cut in the emulator
is a `quota_changed` event and the new value on /admin/routes capacity after one refresh; a
config `quotas:` entry wins over what is listed; `strata discover --quotas` prints them."""

from __future__ import annotations

import subprocess

import pytest
import requests

from gatewaylib import admin_get, gateways, refresh_discovery, static_account, wait_for_round
from simlib import find_binary

ADMIN = "sk-test-admin-0001"
ANY_KEY = "sk-test-any-00001"
SONNET4 = "anthropic.claude-sonnet-4-20250514-v1:0"
US_SONNET4 = f"us.{SONNET4}"
NOVA = "amazon.nova-pro-v1:0"
REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"]


def config(sim, extra=""):
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(sim.fleet, "prod-us")}{static_account(sim.fleet, "prod-eu")}discovery:
  refresh_seconds: 600
  regions: [{", ".join(REGIONS)}]
models:
  - name: claude
    discover: {{model: {SONNET4}, layers: [geography]}}
  - name: nova
    discover: {{model: {NOVA}, layers: [in_region]}}
tenants:
  - {{name: lab, keys: [{ANY_KEY}], residency: [any], route_detail: full}}
admin:
  keys: [{ADMIN}]
{extra}"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    yield from gateways(tmp_path, monkeypatch, lambda: config(sim), after_start=lambda g: wait_for_round(g, ADMIN))


def sim_quotas(sim, account: str, region: str) -> list[dict]:
    r = sim.get(f"/_sim/quotas?account={account}&region={region}")
    assert r.status_code == 200, r.text
    [entry] = r.json()["quotas"]
    return entry["quotas"]


def catalog_scan(g, account: str, region: str) -> dict:
    body = admin_get(g, "/admin/catalog", ADMIN).json()
    return next(s for s in body["catalog"]["scans"] if s["account"] == account and s["region"] == region)


def candidate(g, model: str, target: str) -> dict:
    r = admin_get(g, "/admin/routes", ADMIN, model=model)
    assert r.status_code == 200, r.text
    cands = r.json()["models"][0]["candidates"]
    return next(c for c in cands if c["target"] == target)


def test_the_catalog_holds_the_quotas_the_emulator_enforces(sim, gateway):
    g = gateway()
    body = admin_get(g, "/admin/catalog", ADMIN).json()
    assert body["quotas_unknown"] == []
    checked = 0
    for account in ["prod-us", "prod-eu"]:
        for region in REGIONS:
            listed = sim_quotas(sim, account, region)
            scan = next(s for s in body["catalog"]["scans"] if s["account"] == account and s["region"] == region)
            quotas = scan["quotas"]
            assert quotas["state"] == "listed", quotas
            # Every quota the emulator lists is mapped to the model or profile it governs.
            assert quotas["unmatched"] == {}, quotas["unmatched"]
            assert set(quotas["by_id"]) == {q["subject"] for q in listed}, (account, region)
            for q in listed:
                entry = quotas["by_id"][q["subject"]]
                measure = "rpm" if q["measure"] == "requests" else "tpm"
                assert entry[measure] == q["value"], (account, region, q)
                assert entry[f"{measure}_code"] == q["code"], (account, region, q)
                checked += 1
    assert checked > 0


def test_a_quota_cut_reaches_the_routes_within_one_refresh(sim, gateway):
    g = gateway()
    target = f"prod-us/us-east-1/{US_SONNET4}"
    before = candidate(g, "claude", target)["capacity"]
    [listed_rpm] = [q["value"] for q in sim_quotas(sim, "prod-us", "us-east-1")
                    if q["subject"] == US_SONNET4 and q["measure"] == "requests"]
    [listed_tpm] = [q["value"] for q in sim_quotas(sim, "prod-us", "us-east-1")
                    if q["subject"] == US_SONNET4 and q["measure"] == "tokens"]
    assert before == {"rpm": listed_rpm, "tpm": listed_tpm, "key": target}
    cut_rpm, cut_tpm = max(1, listed_rpm // 4), max(1, listed_tpm // 2)
    r = sim.post("/_sim/quotas", {"account": "prod-us", "region": "us-east-1", "model": US_SONNET4,
                                  "rpm": cut_rpm, "tpm": cut_tpm})
    assert r.status_code == 200, r.text
    # Not before the refresh: the catalog is what was scanned.
    assert candidate(g, "claude", target)["capacity"]["rpm"] == listed_rpm
    refresh_discovery(g, ADMIN)
    assert candidate(g, "claude", target)["capacity"] == {"rpm": cut_rpm, "tpm": cut_tpm, "key": target}
    events = admin_get(g, "/admin/events", ADMIN).json()["events"]
    # The first round listed each region's quotas (one event each); the refresh cut these two.
    listed = [e for e in events if e["event"] == "quotas_listed" and e["account"] == "prod-us"
              and e["region"] == "us-east-1"]
    assert [e["count"] for e in listed] == [len({q["subject"] for q in sim_quotas(sim, "prod-us", "us-east-1")})]
    changed = {(e["measure"], e["from"], e["to"]) for e in events
               if e["event"] == "quota_changed" and e["account"] == "prod-us" and e["region"] == "us-east-1"
               and e["subject"] == US_SONNET4}
    assert changed == {("rpm", listed_rpm, cut_rpm), ("tpm", listed_tpm, cut_tpm)}, events
    # Only that quota changed.
    others = [e for e in events if e["event"] == "quota_changed" and e["subject"] != US_SONNET4]
    assert others == [], others
    # The other account's quota for the same profile is its own.
    other = candidate(g, "claude", f"prod-eu/us-east-1/{US_SONNET4}")["capacity"]
    assert other["rpm"] == listed_rpm
    # Counted.
    metrics = requests.get(g.endpoint + "/metrics", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10).text
    assert any(line.startswith("strata_catalog_events_total") and 'kind="quota_changed"' in line
               for line in metrics.splitlines()), "quota_changed counted"


def test_a_config_quota_wins_over_the_listed_one(sim, gateway):
    extra = f"""quotas:
  - {{account: prod-us, region: us-east-1, model: {NOVA}, rpm: 7}}
"""
    g = gateway(config(sim, extra))
    [listed_tpm] = [q["value"] for q in sim_quotas(sim, "prod-us", "us-east-1")
                    if q["subject"] == NOVA and q["measure"] == "tokens"]
    target = f"prod-us/us-east-1/{NOVA}"
    assert candidate(g, "nova", target)["capacity"] == {"rpm": 7, "tpm": listed_tpm, "key": target}
    # Another account's quota for the same model is what is listed.
    [listed_rpm] = [q["value"] for q in sim_quotas(sim, "prod-eu", "us-east-1")
                    if q["subject"] == NOVA and q["measure"] == "requests"]
    assert listed_rpm != 7
    assert candidate(g, "nova", f"prod-eu/us-east-1/{NOVA}")["capacity"]["rpm"] == listed_rpm
    # The catalog still says what AWS lists.
    assert catalog_scan(g, "prod-us", "us-east-1")["quotas"]["by_id"][NOVA]["rpm"] != 7


def test_a_config_quota_for_an_unknown_account_is_refused(sim, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(config(sim, f"quotas:\n  - {{account: nobody, region: us-east-1, model: {NOVA}, rpm: 5}}\n"))
    out = subprocess.run([str(find_binary()), "check", "--config", str(path)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0
    assert "quotas[0].account: unknown account 'nobody'" in out.stdout + out.stderr


def test_strata_discover_prints_quotas(sim, tmp_path):
    path = tmp_path / "strata.yaml"
    path.write_text(config(sim, f"quotas:\n  - {{account: prod-eu, region: eu-west-1, model: {NOVA}, tpm: 99}}\n"))
    out = subprocess.run([str(find_binary()), "discover", "--config", str(path), "--quotas"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = sim_quotas(sim, "prod-us", "us-east-1")
    models = {q["subject"] for q in listed if q["inference"] == "on_demand"}
    profiles = {q["subject"] for q in listed if q["inference"] != "on_demand"}
    assert f"quotas us-east-1: {len(models)} models, {len(profiles)} profiles" in out.stdout, out.stdout
    section = out.stdout.split("quotas prod-us/us-east-1\n", 1)[1].split("\nquotas ", 1)[0]
    for q in listed:
        row = next(line.split() for line in section.splitlines() if line.split()[:1] == [q["subject"]])
        assert str(q["value"]) in row[1:3] and q["code"] in row[3:], (q, row)
    assert f"config: {NOVA} rpm - tpm 99" in out.stdout
