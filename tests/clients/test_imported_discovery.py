"""Imported models (Custom Model Import) in discovery and routing, end to end (issue 12): `strata
serve` lists every account × region's imported models (ListImportedModels, GetImportedModel),
compiles `discover: {imported_model: NAME}` intents into one in-region candidate per region that
lists the name, keeps an EU-only tenant on the EU copy (checked in the emulator's own stats),
follows an import and a deletion within one refresh, and shows them in /admin/catalog,
/admin/events, the dashboard and `strata discover | routes | check`.

NEEDS the emulator's Custom Model Import (ListImportedModels / GetImportedModel /
CreateModelImportJob / DeleteImportedModel and the default fleet's seeded models:
apexguru-qwen in prod-us us-east-1 (warm) and us-west-2 (cold), eu-support-llama-8b in prod-eu
eu-central-1 (warm))."""

from __future__ import annotations

import json
import subprocess

import pytest
import requests
from botocore.exceptions import ClientError

from gatewaylib import account, admin_get, gateways, refresh_discovery, static_account, wait_for_round
from simlib import find_binary, wait_until

ADMIN = "sk-test-admin-0001"
EU_KEY = "sk-test-eu-000001"
ANY_KEY = "sk-test-any-00001"
QWEN_EAST = "arn:aws:bedrock:us-east-1:111111111111:imported-model/apxqwenuse01"
QWEN_WEST = "arn:aws:bedrock:us-west-2:111111111111:imported-model/apxqwenusw02"
LLAMA_EU = "arn:aws:bedrock:eu-central-1:222222222222:imported-model/llama8beuc01"
REGIONS = ["us-east-1", "us-west-2", "eu-central-1"]


def config(sim, *, models=None, refresh=60, eu_models="[eu-llama, apexguru]"):
    models = models or """
  - name: apexguru
    discover: {imported_model: apexguru-qwen}
  - name: eu-llama
    discover: {imported_model: eu-support-llama-8b, accounts: [prod-eu]}
  - name: pinned-qwen
    deployments:
      - {account: prod-us, region: us-east-1, model: "%s"}
""" % QWEN_EAST
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(sim.fleet, "prod-us")}{static_account(sim.fleet, "prod-eu")}discovery:
  refresh_seconds: {refresh}
  regions: [{", ".join(REGIONS)}]
models:{models}
tenants:
  - {{name: eu-bank, keys: [{EU_KEY}], residency: [eu], route_detail: full, models: {eu_models}}}
  - {{name: lab, keys: [{ANY_KEY}], residency: [any], route_detail: full}}
admin:
  keys: [{ADMIN}]
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 2, base_delay_ms: 1, max_delay_ms: 20}}
"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    yield from gateways(tmp_path, monkeypatch, lambda: config(sim), after_start=lambda g: wait_for_round(g, ADMIN))


def routes(g, **params):
    r = admin_get(g, "/admin/routes", ADMIN, **params)
    assert r.status_code == 200, r.text
    return r.json()["models"][0]


def test_discovery_lists_imported_models_per_account_and_region(sim, gateway):
    g = gateway()
    body = admin_get(g, "/admin/catalog", ADMIN).json()
    listed = {(m["account"], m["region"], m["name"], m["arn"]) for m in body["imported_models"]}
    assert listed == {
        ("prod-us", "us-east-1", "apexguru-qwen", QWEN_EAST),
        ("prod-us", "us-west-2", "apexguru-qwen", QWEN_WEST),
        ("prod-eu", "eu-central-1", "eu-support-llama-8b", LLAMA_EU),
    }, body["imported_models"]
    assert body["imported_unknown"] == []
    qwen = next(m for m in body["imported_models"] if m["arn"] == QWEN_EAST)
    assert qwen["architecture"] and qwen["created_at"] > 0
    assert qwen["model_units_per_copy"] == 1, "GetImportedModel's customModelUnitsPerModelCopy"
    # The same data per scan in the catalog itself.
    scan = next(s for s in body["catalog"]["scans"] if s["account"] == "prod-eu" and s["region"] == "us-east-1")
    assert scan["imported"] == {"state": "listed", "models": {}}
    matrix = requests.get(g.endpoint + "/admin/matrix", headers={"Authorization": f"Bearer {ADMIN}"},
                          params={"provider": "imported"}, timeout=10).json()
    qwen_row = next(r for r in matrix["rows"] if r["model"] == "apexguru-qwen")
    assert qwen_row["provider"] == "imported" and any(c and c["access"] == "on_demand" for c in qwen_row["cells"])


def test_an_eu_only_tenant_gets_only_the_eu_imported_model(sim, gateway):
    g = gateway()
    qwen = routes(g, model="apexguru", explain="true")
    assert qwen["imported_model"] == "apexguru-qwen"
    assert sorted(c["model_id"] for c in qwen["candidates"]) == sorted([QWEN_EAST, QWEN_WEST])
    for c in qwen["candidates"]:
        assert c["layer"] == "in_region" and c["runs_in"] == [c["target"].split("/")[1]]
    eu_view = next(t for t in qwen["tenants"] if t["tenant"] == "eu-bank")
    assert eu_view["allowed"] == []
    assert all("outside the tenant's residency" in e["reason"] for e in eu_view["excluded"])
    rt = g.bedrock(EU_KEY)
    with pytest.raises(ClientError) as e:
        rt.invoke_model(modelId="apexguru", body=json.dumps({"prompt": "hi", "max_tokens": 5}))
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "residency" in e.value.response["Error"]["Message"]
    # Its own model runs in eu-central-1, and only there.
    for i in range(5):
        out = rt.invoke_model(modelId="eu-llama", body=json.dumps({"prompt": f"Bonjour {i}", "max_gen_len": 5}))
        assert out["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"] == f"prod-eu/eu-central-1/{LLAMA_EU}"
    rows = [i for i in sim.invocations() if LLAMA_EU in (i["model"], i.get("foundation_model"))]
    assert sum(i["count"] for i in rows) == 5 and {i["region"] for i in rows} == {"eu-central-1"}, rows
    assert not [i for i in sim.invocations() if i["region"] != "eu-central-1"]


def test_an_import_and_a_deletion_are_followed_within_one_refresh(sim, gateway, bedrock, monkeypatch):
    g = gateway()
    # The control-plane calls below sign with the account's keys, not a gateway key as a bearer token.
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    eu = account(sim.fleet, "prod-eu")
    client = bedrock(eu, "eu-central-1")
    assert sim.post("/_sim/custom-models", {"time_scale": 0.001}).status_code == 200
    job = client.create_model_import_job(
        jobName="apexguru-eu", importedModelName="apexguru-qwen", roleArn=f"arn:aws:iam::{eu['id']}:role/BedrockImport",
        modelDataSource={"s3DataSource": {"s3Uri": "s3://models/apexguru/qwen-13b/"}},
    )
    done = wait_until(lambda: (j := client.get_model_import_job(jobIdentifier=job["jobArn"]))["status"] == "Completed" and j)
    new_arn = done["importedModelArn"]
    assert new_arn.startswith("arn:aws:bedrock:eu-central-1:222222222222:imported-model/")
    refresh_discovery(g, ADMIN)
    qwen = routes(g, model="apexguru", tenant="eu-bank")
    assert f"prod-eu/eu-central-1/{new_arn}" in qwen["tenants"][0]["allowed"]
    events = admin_get(g, "/admin/events", ADMIN).json()["events"]
    assert any(e["event"] == "imported_model_added" and e["arn"] == new_arn and e["model"] == "apexguru-qwen"
               for e in events), events
    client.delete_imported_model(modelIdentifier=new_arn)
    refresh_discovery(g, ADMIN)
    qwen = routes(g, model="apexguru", tenant="eu-bank")
    assert qwen["tenants"][0]["allowed"] == []
    events = admin_get(g, "/admin/events", ADMIN).json()["events"]
    assert any(e["event"] == "imported_model_removed" and e["arn"] == new_arn for e in events), events


def run_cli(*args):
    return subprocess.run([str(find_binary()), *args], capture_output=True, text=True, timeout=120)


def test_discover_routes_and_check_show_imported_models(sim, tmp_path):
    path = tmp_path / "gw.yaml"
    # eu-bank may use only what it has a candidate for (what `strata check` wants).
    path.write_text(config(sim, eu_models="[eu-llama]"))
    out = run_cli("discover", "--config", str(path))
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "apexguru-qwen (imported)" in line)
    assert row.split()[-3:] == ["·", "●", "●"], out.stdout  # eu-central-1, us-east-1, us-west-2
    catalog = json.loads(run_cli("discover", "--config", str(path), "--json").stdout)
    east = next(s for s in catalog["scans"] if s["account"] == "prod-us" and s["region"] == "us-east-1")
    assert east["imported"]["models"][QWEN_EAST]["name"] == "apexguru-qwen"
    text = run_cli("routes", "--config", str(path), "--model", "apexguru").stdout
    assert "model apexguru = imported model apexguru-qwen" in text and QWEN_WEST in text
    good = run_cli("check", "--config", str(path))
    assert good.returncode == 0, good.stdout + good.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(config(sim, models="""
  - name: typo
    discover: {imported_model: apexguru-qwn}
  - name: elsewhere
    deployments:
      - {account: prod-us, region: us-east-1, model: "%s"}
""" % QWEN_WEST, eu_models="[typo]"))
    out = run_cli("check", "--config", str(bad))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "no imported model named 'apexguru-qwn'" in out.stdout, out.stdout
    assert "lives in us-west-2, not us-east-1" in out.stdout, out.stdout


def test_chat_is_kept_off_an_imported_model_that_is_not_instruct_tuned(sim, gateway):
    """The catalog says Qwen 2.5 is not instruct-tuned (instructSupported false: Bedrock serves
    it through InvokeModel only); a chat call on it is refused by the gateway with the reason,
    never sent upstream, while the imported Llama takes chat."""
    g = gateway()
    before = len(sim.invocations(model=QWEN_EAST)) + len(sim.invocations(model=QWEN_WEST))
    r = requests.post(g.endpoint + "/v1/chat/completions", timeout=20,
                      headers={"Authorization": f"Bearer {ANY_KEY}"},
                      json={"model": "apexguru", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400, r.text
    assert "InvokeModel" in r.json()["error"]["message"], r.text
    assert len(sim.invocations(model=QWEN_EAST)) + len(sim.invocations(model=QWEN_WEST)) == before
    r = requests.post(g.endpoint + "/v1/chat/completions", timeout=20,
                      headers={"Authorization": f"Bearer {ANY_KEY}"},
                      json={"model": "eu-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10})
    assert r.status_code == 200, r.text
    r = requests.post(g.endpoint + "/model/pinned-qwen/invoke", timeout=20,
                      headers={"Authorization": f"Bearer {ANY_KEY}", "content-type": "application/json"},
                      data=json.dumps({"prompt": "hi", "max_tokens": 10}))
    assert r.status_code == 200, r.text
    # (the emulator's rows name imported models by ARN, so the count above could have moved)
    assert len(sim.invocations(model=QWEN_EAST)) + len(sim.invocations(model=QWEN_WEST)) == before + 1
