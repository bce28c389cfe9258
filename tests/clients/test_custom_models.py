"""Custom models through the gateway (issue 12), with the real `openai` and `boto3` clients against
`strata serve` in front of `strata sim`, whose imported models load, unload and scale with time
scaled down:

- a cold start is absorbed: the request waits for the model to load and the client sees no error;
  the target is not put in cooldown and the wait is in the usage record and the metrics;
- `x-strata-cold-start: fail-fast` answers 503 with `retry-after` at once, in each API's shape;
- a model that does not load within the cold-start budget ends as that 503, never a hang;
- keep-warm keeps a model loaded across an idle period longer than the eviction window, while
  an imported model without it is unloaded; keep-warm calls are marked in the usage records;
- discovery lists imported models per account × region, intents name them, residency holds.

The emulator's default fleet seeds `apexguru-qwen` (Qwen 13B) in us-east-1 (warm) and us-west-2
(cold) of prod-us, and `eu-support-llama-8b` in eu-central-1 of prod-eu."""

from __future__ import annotations

import json
import time

import openai
import pytest
import requests
from botocore.exceptions import ClientError

from gatewaylib import admin_get, wait_for_round
from test_request_path import ADMIN, EU_KEY, US_KEY, config, gateway, metric, metrics, oai, poll  # noqa: F401

QWEN_USE1 = "arn:aws:bedrock:us-east-1:111111111111:imported-model/apxqwenuse01"
QWEN_USW2 = "arn:aws:bedrock:us-west-2:111111111111:imported-model/apxqwenusw02"
LLAMA_EUC1 = "arn:aws:bedrock:eu-central-1:222222222222:imported-model/llama8beuc01"

# With the emulator's time scale at 0.01, a 13B model loads in about 0.7 s and an idle model is
# unloaded after 9 s.
SCALE = 0.01
EVICTION_S = 900 * SCALE


@pytest.fixture
def scaled(sim):
    """Custom-model time scaled down; the emulator's reset restores the settings afterwards."""
    r = sim.post("/_sim/custom-models", {"time_scale": SCALE})
    assert r.status_code == 200, r.text
    yield
    sim.reset()


def evict(sim, model: str) -> None:
    r = sim.post("/_sim/custom-models/evict", {"model": model})
    assert r.status_code == 200, r.text


def sim_model(sim, arn: str) -> dict:
    r = sim.get("/_sim/custom-models")
    assert r.status_code == 200, r.text
    models = r.json()["models"]
    found = [m for m in models if m.get("arn") == arn or arn.endswith("/" + str(m.get("id")))]
    assert found, f"{arn} not in the emulator's imported models: {models}"
    return found[0]


def pinned_imported(name: str, account: str, arn: str, extra: str = "") -> str:
    region = arn.split(":")[3]
    return f"""
  - name: {name}
    deployments:
      - {{account: {account}, region: {region}, model: "{arn}"}}{extra}"""


def cold_start_routing(budget_ms: int = 20000) -> str:
    return f"  cold_start: {{budget_ms: {budget_ms}, base_delay_ms: 100, max_delay_ms: 400}}\n"


def custom_models(g) -> list[dict]:
    r = admin_get(g, "/admin/custom-models", ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["targets"]


def target_state(g, model: str) -> dict:
    rows = [t for t in custom_models(g) if t["model"] == model]
    assert len(rows) == 1, rows
    return rows[0]


def invoke_body(prompt: str = "Say hello") -> str:
    return json.dumps({"prompt": prompt, "max_tokens": 20})


def usage_row(g, model: str) -> dict:
    r = admin_get(g, "/admin/usage", ADMIN, group_by="model", model=model)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    return rows[0] if rows else {}


# ---- cold starts -------------------------------------------------------------------------------


def test_a_cold_start_is_absorbed_with_no_client_visible_error(sim, scaled, gateway):
    evict(sim, QWEN_USW2)
    g = gateway(config(sim, pinned_imported("apexguru", "prod-us", QWEN_USW2),
                       routing=cold_start_routing()))
    client = g.bedrock(US_KEY, read_timeout=30)
    started = time.monotonic()
    r = client.invoke_model(modelId="apexguru", body=invoke_body(), contentType="application/json")
    waited = time.monotonic() - started
    answer = json.loads(r["body"].read())
    assert answer.get("generation"), answer
    # The emulator refused while loading (so there was a cold start to absorb)…
    model = sim_model(sim, QWEN_USW2)
    assert model["cold_start_refusals"] >= 1, model
    assert waited >= 0.3, f"answered in {waited:.2f} s: no cold start was met"
    # …the gateway waited instead of failing, marked no cooldown, and said so.
    t = target_state(g, "apexguru")
    assert t["state"] == "warm", t
    assert t["cold_starts"] >= 1, t
    text = metrics(g)
    assert metric(text, "strata_cold_starts_total", model="apexguru", outcome="ok") == 1
    assert metric(text, "strata_cold_start_wait_seconds_count", model="apexguru") == 1
    row = poll("the usage record", lambda: (lambda u: u if u.get("cold_starts") else None)(usage_row(g, "apexguru")))
    assert row["cold_starts"] == 1 and row["errors"] == 0, row
    # A second request right away is served warm, without waiting.
    started = time.monotonic()
    client.invoke_model(modelId="apexguru", body=invoke_body(), contentType="application/json")
    assert time.monotonic() - started < waited


def test_the_openai_and_streaming_paths_wait_for_a_cold_model_too(sim, scaled, gateway):
    evict(sim, QWEN_USW2)
    g = gateway(config(sim, pinned_imported("apexguru", "prod-us", QWEN_USW2),
                       routing=cold_start_routing()))
    client = g.bedrock(US_KEY, read_timeout=30)
    r = client.invoke_model_with_response_stream(modelId="apexguru", body=invoke_body(),
                                                 contentType="application/json")
    chunks = [json.loads(e["chunk"]["bytes"]) for e in r["body"] if "chunk" in e]
    assert chunks and "".join(c.get("generation", "") for c in chunks).strip(), chunks
    # Chat (Converse) on an imported Llama, which takes it (Bedrock refuses Converse for Qwen 2.5).
    evict(sim, LLAMA_EUC1)
    g = gateway(config(sim, pinned_imported("support", "prod-eu", LLAMA_EUC1), routing=cold_start_routing()))
    started = time.monotonic()
    reply = oai(g, EU_KEY).chat.completions.create(model="support", messages=[{"role": "user", "content": "hi"}],
                                                   max_tokens=20)
    assert reply.choices[0].message.content
    assert time.monotonic() - started >= 0.2
    assert sim_model(sim, LLAMA_EUC1)["cold_start_refusals"] >= 1


def test_fail_fast_answers_503_with_retry_after_at_once(sim, scaled, gateway):
    evict(sim, QWEN_USW2)
    evict(sim, LLAMA_EUC1)
    g = gateway(config(sim, pinned_imported("apexguru", "prod-us", QWEN_USW2)
                       + pinned_imported("support", "prod-eu", LLAMA_EUC1), routing=cold_start_routing()))
    # The OpenAI API on the imported Llama (chat goes through Converse, which Llama takes).
    started = time.monotonic()
    r = requests.post(g.endpoint + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {EU_KEY}", "x-strata-cold-start": "fail-fast"},
                      json={"model": "support", "messages": [{"role": "user", "content": "hi"}]})
    assert time.monotonic() - started < 0.5
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "model_not_ready", r.text
    assert int(r.headers["retry-after"]) >= 1
    # The same through the openai SDK (no retries: it would retry a 503 itself).
    with pytest.raises(openai.InternalServerError) as e:
        oai(g, EU_KEY).with_options(max_retries=0).chat.completions.create(
            model="support", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-strata-cold-start": "fail-fast"})
    assert e.value.status_code == 503
    # The Bedrock API: Bedrock's type, 503.
    r = requests.post(g.endpoint + "/model/apexguru/invoke", data=invoke_body(), timeout=10,
                      headers={"Authorization": f"Bearer {US_KEY}", "x-strata-cold-start": "fail-fast",
                               "content-type": "application/json"})
    assert r.status_code == 503 and r.headers["x-amzn-errortype"] == "ModelNotReadyException", r.text
    assert r.headers.get("retry-after")
    # The first refusal started the load: once loaded, the same fail-fast request is served.
    def served():
        r = requests.post(g.endpoint + "/model/apexguru/invoke", data=invoke_body(), timeout=10,
                          headers={"Authorization": f"Bearer {US_KEY}", "x-strata-cold-start": "fail-fast",
                                   "content-type": "application/json"})
        return r.status_code == 200
    poll("the model to load", served, timeout=10, interval=0.2)
    # No cooldown was left behind: a request without the header is served at once.
    assert g.bedrock(US_KEY).invoke_model(modelId="apexguru", body=invoke_body(), contentType="application/json")
    # A header value the gateway does not know is the client's mistake.
    r = requests.post(g.endpoint + "/v1/chat/completions", timeout=10,
                      headers={"Authorization": f"Bearer {EU_KEY}", "x-strata-cold-start": "maybe"},
                      json={"model": "support", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and "x-strata-cold-start" in r.json()["error"]["message"], r.text


def test_a_model_that_does_not_load_within_the_budget_ends_as_503(sim, gateway):
    # Unscaled time: the 13B model takes over a minute to load; the budget is half a second.
    evict(sim, QWEN_USW2)
    g = gateway(config(sim, pinned_imported("apexguru", "prod-us", QWEN_USW2),
                       routing=cold_start_routing(budget_ms=500)))
    started = time.monotonic()
    with pytest.raises(ClientError) as e:
        g.bedrock(US_KEY).invoke_model(modelId="apexguru", body=invoke_body(), contentType="application/json")
    took = time.monotonic() - started
    assert 0.4 < took < 5, took
    err = e.value.response
    assert err["Error"]["Code"] == "ModelNotReadyException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert err["ResponseMetadata"]["HTTPHeaders"].get("retry-after")
    assert target_state(g, "apexguru")["state"] == "loading"


# ---- keep-warm ---------------------------------------------------------------------------------


def test_keep_warm_prevents_eviction_across_an_idle_period(sim, scaled, gateway):
    g = gateway(config(sim, pinned_imported("kept", "prod-us", QWEN_USW2, "\n    keep_warm: {interval_ms: 2500}")
                       + pinned_imported("unkept", "prod-us", QWEN_USE1),
                       routing=cold_start_routing()))
    # Both answer once (the kept one may first load: keep-warm starts at once).
    client = g.bedrock(US_KEY, read_timeout=30)
    for model in ("kept", "unkept"):
        client.invoke_model(modelId=model, body=invoke_body(), contentType="application/json")
    # Idle for longer than the emulator's eviction window.
    time.sleep(EVICTION_S + 2)
    assert sim_model(sim, QWEN_USW2)["state"] == "warm", sim_model(sim, QWEN_USW2)
    assert sim_model(sim, QWEN_USE1)["state"] == "cold", sim_model(sim, QWEN_USE1)
    fail_fast = {"x-strata-cold-start": "fail-fast", "Authorization": f"Bearer {US_KEY}",
                 "content-type": "application/json"}
    r = requests.post(g.endpoint + "/model/kept/invoke", data=invoke_body(), headers=fail_fast, timeout=10)
    assert r.status_code == 200, r.text
    r = requests.post(g.endpoint + "/model/unkept/invoke", data=invoke_body(), headers=fail_fast, timeout=10)
    assert r.status_code == 503, r.text
    kept = target_state(g, "kept")
    assert kept["keep_warm_interval_ms"] == 2500 and kept["keep_warm_calls"] >= 2, kept
    assert kept["last_keep_warm_ms"] is not None
    assert target_state(g, "unkept")["keep_warm_interval_ms"] is None
    assert metric(metrics(g), "strata_keep_warm_calls_total", model="kept", outcome="ok") >= 2
    assert metric(metrics(g), "strata_custom_model_state", target=kept["target"], state="warm") == 1
    # Keep-warm calls are in the usage store, marked, with no tenant.
    row = poll("keep-warm records", lambda: (lambda u: u if u.get("keep_warm_calls", 0) >= 2 else None)(
        usage_row(g, "kept")))
    assert row["keep_warm_calls"] >= 2, row
    by_tenant = admin_get(g, "/admin/usage", ADMIN, group_by="tenant").json()
    rows = by_tenant["rows"]
    assert any(r["tenant"] is None and r["keep_warm_calls"] >= 2 for r in rows), rows

