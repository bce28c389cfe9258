"""Routing by headroom (issue 15), driven by the real `openai` client against `strata serve` in
front of `strata sim --zero-latency`: three accounts whose Service Quotas give one model 6, 12
and 18 requests per minute. Under `strategy: headroom` the gateway reads the quotas through
discovery and spreads a burst of 80 % of their sum close to 1 : 2 : 3 with no upstream throttle;
under `weighted` (equal weights) the same burst meets Bedrock's 429s. The quota, what is left
and the share in use are on /metrics."""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from openai import OpenAI

from gatewaylib import gateways, static_account, wait_for_round

NOVA = "amazon.nova-pro-v1:0"
KEY = "sk-test-us-000001"
ADMIN = "sk-test-admin-0001"
QUOTAS = {"prod-us": 6, "prod-eu": 12, "prod-apac": 18}
BURST = int(0.8 * sum(QUOTAS.values()))


def config(sim, strategy: str, extra: str = "") -> str:
    f = sim.fleet
    deployments = "".join(f"\n      - {{account: {a}, region: us-east-1, model: {NOVA}}}" for a in QUOTAS)
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}{static_account(f, "prod-eu")}{static_account(f, "prod-apac")}
discovery: {{regions: [us-east-1], refresh_seconds: 300}}
models:
  - name: spread
    strategy: {strategy}
    deployments:{deployments}
tenants:
  - {{name: us-apps, keys: [{KEY}], residency: [any]}}
admin:
  keys: [{ADMIN}]
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 3, base_delay_ms: 1, max_delay_ms: 5}}
  cooldown: {{failures: 1000, window_ms: 1000, duration_ms: 1}}
{extra}"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    for account, rpm in QUOTAS.items():
        sim.set_quota(account=account, region="us-east-1", model=NOVA, rpm=rpm, tpm=1_000_000)
    yield from gateways(tmp_path, monkeypatch, lambda: pytest.fail("give a config"),
                        after_start=lambda g: wait_for_round(g, ADMIN))


def burst(*replicas, n: int = BURST) -> int:
    """`n` requests, taking turns over the replicas given."""
    clients = [OpenAI(base_url=g.endpoint + "/v1", api_key=KEY, max_retries=0, timeout=30) for g in replicas]
    ok = 0
    for i in range(n):
        try:
            clients[i % len(clients)].chat.completions.create(model="spread", messages=[{"role": "user", "content": f"hi {i}"}],
                                           max_tokens=5)
            ok += 1
        except Exception:  # noqa: BLE001 - counted, not raised: the contrast is the point
            pass
    return ok


def spread(sim) -> tuple[dict[str, int], int]:
    by_account = {a: 0 for a in QUOTAS}
    throttled = 0
    for row in sim.invocations(model=NOVA):
        if row["status"] == 200:
            by_account[row["account_name"]] += row["count"]
        elif row["status"] == 429:
            throttled += row["count"]
    return by_account, throttled


def test_headroom_spreads_by_quota_without_a_throttle(sim, gateway):
    g = gateway(config(sim, "headroom"))
    ok = burst(g)
    by_account, throttled = spread(sim)
    assert ok == BURST and throttled == 0, (ok, by_account, throttled)
    for account, rpm in QUOTAS.items():
        assert by_account[account] <= rpm, by_account
    assert by_account["prod-us"] < by_account["prod-apac"], by_account
    # Each pick is a draw weighted by room, so the split varies: drawing 28 from rooms 6/12/18
    # leaves prod-eu < 5 or prod-apac < 10 about once in 50,000 bursts (simulated), where the
    # former bounds (6 and 12) were missed about once in 50 — a flaky test, not a finding.
    assert by_account["prod-eu"] >= 5 and by_account["prod-apac"] >= 10, by_account
    text = requests.get(g.endpoint + "/metrics", timeout=10).text
    quota = re.search(r'^strata_upstream_quota\{account="prod-apac",region="us-east-1",target="%s",limit="rpm"\} (\S+)$'
                      % re.escape(NOVA), text, re.M)
    assert quota and float(quota.group(1)) == 18, text[-2000:]
    assert re.search(r'^strata_upstream_headroom\{account="prod-us",region="us-east-1",', text, re.M)
    # The dashboard's traffic: each quota with its use this minute and what is left.
    quotas = {q["target"]: q for q in
              requests.get(g.endpoint + "/admin/traffic", headers={"Authorization": f"Bearer {ADMIN}"},
                           timeout=10).json()["quotas"]}
    apac = quotas[f"prod-apac/us-east-1/{NOVA}"]
    assert apac["rpm"] == 18 and apac["requests_last_minute"] == by_account["prod-apac"], apac
    assert apac["headroom"] is not None and apac["headroom"] <= 18 - by_account["prod-apac"] + 1, apac


def test_weighted_meets_the_throttles_headroom_avoids(sim, gateway):
    g = gateway(config(sim, "weighted"))
    # Twice the quotas' sum, so equal weights surely send prod-us past its 6 (at 80 % it may
    # draw under it by chance).
    burst(g, n=2 * sum(QUOTAS.values()))
    by_account, throttled = spread(sim)
    assert throttled > 0, by_account


def test_two_replicas_sharing_redis_keep_the_split_without_a_throttle(sim, gateway):
    namespace = f"strata-headroom-{uuid.uuid4().hex[:12]}"
    text = config(sim, "headroom", f"shared: {{redis_url: 'redis://127.0.0.1:6379', namespace: {namespace}}}")
    replicas = [gateway(text), gateway(text)]
    # The whole minute's quota, half through each replica: only counters both see fill every
    # account exactly, with no 429 (each replica alone would think it had it all).
    total = sum(QUOTAS.values())
    ok = burst(*replicas, n=total)
    by_account, throttled = spread(sim)
    assert ok == total and throttled == 0, (ok, by_account, throttled)
    assert by_account == QUOTAS, by_account


MISTRAL = "mistral.mistral-large-2402-v1:0"


def test_a_region_cap_keeps_one_region_from_taking_the_whole_load(sim, gateway):
    """Mistral Large on demand in us-east-1 (30 RPM) and us-west-2 (6 RPM) of one account, at
    most half the summed quota (18) per region: us-east-1 stops at 18 although its own quota has
    room, us-west-2 at its 6, and the rest is refused by the gateway, never throttled upstream."""
    sim.set_quota(account="prod-us", region="us-east-1", model=MISTRAL, rpm=30, tpm=1_000_000)
    sim.set_quota(account="prod-us", region="us-west-2", model=MISTRAL, rpm=6, tpm=1_000_000)
    f = sim.fleet
    g = gateway(f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}
discovery: {{regions: [us-east-1, us-west-2], refresh_seconds: 300}}
models:
  - name: capped
    strategy: headroom
    max_region_share: 0.5
    deployments:
      - {{account: prod-us, region: us-east-1, model: {MISTRAL}}}
      - {{account: prod-us, region: us-west-2, model: {MISTRAL}}}
tenants:
  - {{name: us-apps, keys: [{KEY}], residency: [any]}}
admin:
  keys: [{ADMIN}]
""")
    client = OpenAI(base_url=g.endpoint + "/v1", api_key=KEY, max_retries=0, timeout=30)
    statuses = []
    for i in range(30):
        try:
            client.chat.completions.create(model="capped", messages=[{"role": "user", "content": f"hi {i}"}],
                                           max_tokens=5)
            statuses.append(200)
        except Exception as e:  # noqa: BLE001 - the refusals are counted
            statuses.append(getattr(e, "status_code", 0))
    served = {r["region"]: r["count"] for r in sim.invocations(model=MISTRAL, status=200)}
    throttled = sum(r["count"] for r in sim.invocations(model=MISTRAL, status=429))
    assert served.get("us-east-1", 0) == 18 and served.get("us-west-2", 0) == 6, served
    assert throttled == 0 and statuses.count(200) == 24, (statuses, throttled)
    assert set(statuses) == {200, 429}, statuses
