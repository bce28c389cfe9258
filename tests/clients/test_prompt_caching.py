"""Prompt caching through the gateway: Converse `cachePoint` blocks pass through the Bedrock-native
API; `cache_control` on OpenAI messages and parts becomes one; the emulator serves a repeated
prefix from its cache; each dialect reports cache reads and writes in its usage, and the usage
records bill them at the price table's cache prices."""

from __future__ import annotations

import time

import requests
from openai import OpenAI
import pytest

from gatewaylib import gateways
from test_gateway_bedrock import config

ADMIN = "sk-admin-cache-0001"
# A long, stable system prompt: the prefix worth caching.
POLICY = " ".join(f"Rule {i}: answer politely and cite the handbook section {i}." for i in range(60))


@pytest.fixture
def gw(sim, tmp_path, monkeypatch):
    # Gateway.bedrock() leaves its key in AWS_BEARER_TOKEN_BEDROCK; monkeypatch restores the
    # environment so later tests' boto3 clients do not pick bearer auth up.
    yield from gateways(tmp_path, monkeypatch, lambda: config(sim) + f"admin:\n  keys: [{ADMIN}]\n")


def usage_total(g) -> dict:
    r = requests.get(g.endpoint + "/admin/usage", params={"group_by": "tenant"},
                     headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    return rows[0] if rows else {"requests": 0, "cost_usd": 0.0, "cache_read_tokens": 0, "cache_write_tokens": 0}


def wait_requests(g, n: int) -> dict:
    deadline = time.monotonic() + 15
    while True:
        row = usage_total(g)
        if row["requests"] >= n or time.monotonic() > deadline:
            assert row["requests"] == n, row
            return row
        time.sleep(0.05)


def test_converse_cache_points_pass_through_and_a_repeat_reads_the_cache(gw):
    gw = gw()
    c = gw.bedrock("sk-test-us-000001")
    ask = dict(modelId="nova", system=[{"text": POLICY}, {"cachePoint": {"type": "default"}}],
               messages=[{"role": "user", "content": [{"text": "May I return shoes?"}]}])
    first = c.converse(**ask)["usage"]
    assert first["cacheWriteInputTokens"] > 0 and first["cacheReadInputTokens"] == 0
    second = c.converse(**ask)["usage"]
    assert second["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    assert second["cacheWriteInputTokens"] == 0
    assert second["inputTokens"] == first["inputTokens"]
    # Streams report the same in their metadata event.
    events = list(c.converse_stream(**ask)["stream"])
    usage = next(e["metadata"]["usage"] for e in events if "metadata" in e)
    assert usage["cacheReadInputTokens"] == first["cacheWriteInputTokens"]
    # Cache tokens are recorded and billed: a cache read costs a tenth of input, a write 1.25x, so
    # the second request costs less than the first.
    after_first_three = wait_requests(gw, 3)
    assert after_first_three["cache_read_tokens"] == 2 * first["cacheWriteInputTokens"]
    assert after_first_three["cache_write_tokens"] == first["cacheWriteInputTokens"]


def test_a_cached_request_costs_less_than_the_one_that_wrote_the_cache(gw):
    gw = gw()
    c = gw.bedrock("sk-test-us-000001")
    ask = dict(modelId="nova", system=[{"text": POLICY}, {"cachePoint": {"type": "default"}}],
               messages=[{"role": "user", "content": [{"text": "Hello"}]}])
    c.converse(**ask)
    writing = wait_requests(gw, 1)["cost_usd"]
    c.converse(**ask)
    reading = wait_requests(gw, 2)["cost_usd"] - writing
    assert 0 < reading < writing


def test_openai_cache_control_is_a_cache_point_and_cached_tokens_are_reported(gw):
    gw = gw()
    c = OpenAI(base_url=gw.endpoint + "/v1", api_key="sk-test-us-000001", max_retries=0, timeout=20)
    messages = [
        {"role": "system", "content": [{"type": "text", "text": POLICY, "cache_control": {"type": "ephemeral"}}]},
        {"role": "user", "content": "May I return shoes?"},
    ]
    first = c.chat.completions.create(model="nova", messages=messages)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    second = c.chat.completions.create(model="nova", messages=messages)
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached > 0
    # prompt_tokens counts every input token, cached ones included, as OpenAI counts them.
    assert second.usage.prompt_tokens == first.usage.prompt_tokens > cached
    chunks = list(c.chat.completions.create(model="nova", messages=messages, stream=True,
                                            stream_options={"include_usage": True}))
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == cached
    # Without cache_control nothing is cached.
    plain = c.chat.completions.create(model="nova", messages=[{"role": "system", "content": POLICY},
                                                               {"role": "user", "content": "hi"}])
    assert plain.usage.prompt_tokens_details.cached_tokens == 0
