"""`strata demo` as a newcomer meets it: it prints where everything is, and its tenants show
discovery-driven, residency-safe routing with the real openai and boto3 clients."""

from __future__ import annotations


import boto3
import pytest
import re

import requests
from botocore.config import Config
from openai import OpenAI

from gatewaylib import Demo
from simlib import NO_RETRIES

EU = {"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo"))
    yield {"gateway": f"http://127.0.0.1:{d.gw}", "sim": f"http://127.0.0.1:{d.sim}", "printed": d.printed}
    d.stop()


def client_invocations(demo):
    """The emulator's invocation rows since its last reset, without the demo's keep-warm pings
    to its imported models (they land at any time)."""
    rows = requests.get(demo["sim"] + "/_sim/stats", timeout=10).json()["invocations"]
    return [r for r in rows if ":imported-model/" not in r["model"]]


def test_it_prints_where_everything_is(demo):
    lines = demo["printed"].splitlines()
    for label, url in [("gateway:", demo["gateway"]), ("emulator:", demo["sim"]),
                       ("dashboard:", demo["gateway"] + "/dashboard"), ("metrics:", demo["gateway"] + "/metrics")]:
        assert any(l.startswith(label) and l.split()[-1] == url for l in lines), (label, demo["printed"])
    # The dashboard is for admins: others get the sign-in form; the demo's admin key opens it.
    outsider = requests.get(demo["gateway"] + "/dashboard", timeout=10)
    assert outsider.status_code == 401 and 'name="key"' in outsider.text
    admin = requests.get(demo["gateway"] + "/dashboard", headers={"Authorization": "Bearer sk-demo-admin"}, timeout=10)
    assert admin.status_code == 200 and "Route explorer" in admin.text and "/dashboard/assets/app.js" in admin.text
    metrics = requests.get(demo["gateway"] + "/metrics", timeout=10).text
    assert "strata_model_available{" in metrics


def test_tenants_run_only_where_their_residency_allows(demo, monkeypatch):
    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    eu = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-eu", max_retries=0)
    for model in ["claude-sonnet-4", "claude-sonnet-4-5", "claude-haiku", "nova-pro"]:
        r = eu.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=5)
        assert r.choices[0].message.content
    rows = client_invocations(demo)
    assert rows and {r["region"] for r in rows} <= EU, rows

    requests.post(demo["sim"] + "/_sim/reset", timeout=10)
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "sk-demo-us")
    rt = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=demo["gateway"].replace("http://", "https://"),
                      config=Config(retries=NO_RETRIES))
    rt.meta.events.register("before-send", lambda request, **kw: setattr(request, "url", request.url.replace("https://", "http://", 1)))
    for model in ["claude-sonnet-4", "llama-70b", "nova-pro"]:
        rt.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "hi"}]}], inferenceConfig={"maxTokens": 5})
    rows = client_invocations(demo)
    assert rows and all(r["region"].startswith("us-") for r in rows), rows

    lab = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-global", max_retries=0)
    assert lab.chat.completions.create(model="llama-70b", messages=[{"role": "user", "content": "hi"}], max_tokens=5).choices
    ids = {m.id for m in eu.models.list().data}
    assert "claude-sonnet-4" in ids and "llama-70b" not in ids


def test_the_admin_api_explains_the_access_rule(demo):
    r = requests.get(demo["gateway"] + "/admin/routes", params={"model": "claude-sonnet-4-5", "explain": "true"},
                     headers={"Authorization": "Bearer sk-demo-admin"}, timeout=10)
    assert r.status_code == 200, r.text
    model = r.json()["models"][0]
    assert any(e["target"].startswith("prod-eu/") and "eu-south-2" in e["reason"] for e in model["excluded"])
    assert not any(c["target"].startswith("prod-eu/") and c["model_id"].startswith("eu.") for c in model["candidates"])


def test_every_metric_says_what_it_is(demo):
    """Every metric family on /metrics has a `# HELP` line (Prometheus shows it to operators)."""
    client = OpenAI(base_url=demo["gateway"] + "/v1", api_key="sk-demo-global", max_retries=0)
    client.chat.completions.create(model="nova-pro", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    for _ in client.chat.completions.create(model="nova-pro", messages=[{"role": "user", "content": "hi"}],
                                            max_tokens=5, stream=True):
        pass
    text = requests.get(demo["gateway"] + "/metrics", timeout=10).text
    # A streamed answer's time to first token is a histogram of its own.
    assert re.search(r'^strata_time_to_first_token_seconds_count\{model="nova-pro"\} [1-9]', text, re.M), text[:2000]
    typed = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}
    helped = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")}
    assert {"strata_requests_total", "strata_tokens_total", "strata_request_duration_seconds"} <= typed, typed
    assert typed <= helped, f"no HELP for: {sorted(typed - helped)}"
