"""Acceptance tests for "Tenants that govern" (issue 9), with real processes and real clients
(`openai`, `boto3`) against `strata serve` in front of `strata sim`:

1. seed 003 pattern 5: tenants at 3, 10 and 10 requests per minute sending 5 at once each;
2. two replicas started from `examples/replicas.yaml` enforce one limit exactly through Redis;
3. a budget holds exactly across two replicas sharing Redis and PostgreSQL;
4. Redis stopped and restarted mid-run: fail open (local limits) and fail closed (503), then
   recovery without a restart;
5. SIGTERM under load: every request answered, exit 0, one usage record per request;
6. the usage API's totals equal the tokens the clients saw (OpenAI, streamed, Bedrock);
7. keys through the admin API (create, use, list, rotate with grace, revoke, audit), and a
   configured `sha256:` key;
8. the Bedrock dialect's refusals: `ThrottlingException` and `ServiceQuotaExceededException`.

Every test isolates its shared state: a Redis namespace, a PostgreSQL schema or a SQLite file of
its own, so the suite runs beside other tests."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
import requests
from botocore.exceptions import ClientError
from openai import OpenAI

from gatewaylib import Gateway, static_account
from simlib import REPO, Sim, error_code, find_binary, free_port

NOVA_MICRO = "amazon.nova-micro-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"
ADMIN = "sk-tenants-admin-0001"
REDIS = "redis://127.0.0.1:6379"
PG_USERS = ["postgres", "root"]
# A price that makes every request's cost known in advance: input is free and each output token
# costs 2 USD, so a request cut at 5 output tokens (the emulator always writes at least 8) costs
# exactly 10 USD, and so does its reservation (max tokens × the output price).
PRICE_PER_TOKEN_USD = 2
MAX_TOKENS = 5
REQUEST_USD = PRICE_PER_TOKEN_USD * MAX_TOKENS
PRICING = f"""pricing:
  - {{model: {NOVA_MICRO}, input_per_mtok: 0, output_per_mtok: {PRICE_PER_TOKEN_USD * 1_000_000}}}
"""


# ---- configuration and processes -----------------------------------------------------------------


def config(sim, tenants: str, *, extra: str = "", endpoint: str | None = None) -> str:
    """A gateway on the emulator with two logical models (`micro`, `lite`) pinned in us-east-1,
    no discovery and no retries (a refusal must reach the client as it is)."""
    return f"""
aws:
  endpoint_url: {endpoint or sim.endpoint}
accounts:
{static_account(sim.fleet, "prod-us")}discovery: {{enabled: false}}
models:
  - name: micro
    deployments:
      - {{account: prod-us, region: us-east-1, model: {NOVA_MICRO}}}
  - name: lite
    deployments:
      - {{account: prod-us, region: us-east-1, model: {NOVA_LITE}}}
tenants:
{tenants}
admin:
  keys: [{ADMIN}]
routing:
  timeout_ms: 30000
  retries: {{max_attempts: 1, base_delay_ms: 1, max_delay_ms: 10}}
{extra}"""


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start(tmp_path, monkeypatch):
    """start(config_text, env_overrides=None) → a running gateway; all are stopped afterwards,
    and one that died on its own (not stopped by the test) fails the test."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "unset-until-a-client-is-made")
    started: list[Gateway] = []

    def run(text: str, env: dict | None = None) -> Gateway:
        whole = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
        whole.update(env or {})
        g = Gateway(find_binary(), text, tmp_path, env=whole)
        started.append(g)
        return g

    yield run
    died = [g for g in started if g.proc.poll() is not None and not getattr(g, "stopped_by_test", False)]
    for g in started:
        g.stop()
    assert not died, "strata serve died:\n" + "\n".join(g.stderr() for g in died)


def oai(g: Gateway, key: str) -> OpenAI:
    # max_retries=0: the openai client would otherwise retry 429s itself and hide them.
    return OpenAI(base_url=g.endpoint + "/v1", api_key=key, max_retries=0, timeout=30)


def chat(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def ask(g: Gateway, key: str, text: str, model: str = "micro") -> tuple[int, dict, dict]:
    """One chat completion sent raw: (status, headers, body)."""
    r = requests.post(g.endpoint + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": chat(text), "max_tokens": MAX_TOKENS}, timeout=30)
    return r.status_code, r.headers, r.json()


def admin(g: Gateway, method: str, path: str, body=None, **params) -> requests.Response:
    return requests.request(method, g.endpoint + path, params=params, json=body,
                            headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30)


def usage_rows(g: Gateway, **params) -> list[dict]:
    r = admin(g, "GET", "/admin/usage", **params)
    assert r.status_code == 200, r.text
    return r.json()["rows"]


def wait_usage(g: Gateway, tenant: str, requests_expected: int, timeout: float = 15.0) -> dict:
    """The tenant's usage row (`group_by=tenant`) once it counts `requests_expected` requests
    (records are written in batches, off the request path)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = usage_rows(g, tenant=tenant, group_by="tenant")
        row = rows[0] if rows else {"requests": 0}
        if row["requests"] >= requests_expected or time.monotonic() > deadline:
            assert row["requests"] == requests_expected, (row, g.stderr()[-3000:])
            assert len(rows) == 1, rows
            return row
        time.sleep(0.05)


def assert_retry_after(headers, context) -> None:
    value = headers.get("retry-after")
    assert value and re.fullmatch(r"\d+", value.strip()) and int(value) >= 1, f"retry-after {value!r}: {context}"


# ---- PostgreSQL and Redis ------------------------------------------------------------------------


def psql(url: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql],
                          capture_output=True, text=True, timeout=30)


@pytest.fixture
def pg_url():
    """A PostgreSQL URL whose search_path is a schema of this test's own (dropped afterwards)."""
    admin_url = None
    for user in PG_USERS:
        url = f"postgres://{user}@127.0.0.1:5432/test"
        if psql(url, "SELECT 1").returncode == 0:
            admin_url = url
            break
    if admin_url is None:
        pytest.fail("PostgreSQL at 127.0.0.1:5432 (database test, user postgres or root) cannot be reached")
    schema = unique("strata_tenants_")
    done = psql(admin_url, f"CREATE SCHEMA {schema}")
    assert done.returncode == 0, done.stderr
    yield f"{admin_url}?options=-csearch_path%3D{schema}"
    psql(admin_url, f"DROP SCHEMA {schema} CASCADE")


def redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class PrivateRedis:
    """A `redis-server` of this test's own, which the test may stop and start again on its port."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not redis_answers(self.port):
            assert self.proc.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not answer PING"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path):
    r = PrivateRedis(tmp_path)
    r.start()
    yield r
    r.stop()


# ---- 1. seed 003 pattern 5 -------------------------------------------------------------------------


def test_pattern_5_a_noisy_tenant_never_starves_the_others(sim, start):
    keys = {"a": "sk-tenant-a-000001", "b": "sk-tenant-b-000001", "c": "sk-tenant-c-000001"}
    g = start(config(sim, f"""  - {{name: a, keys: [{keys['a']}], rpm: 3}}
  - {{name: b, keys: [{keys['b']}], rpm: 10}}
  - {{name: c, keys: [{keys['c']}], rpm: 10}}"""))
    clients = {t: oai(g, k) for t, k in keys.items()}

    def one(job):
        tenant, i = job
        try:
            raw = clients[tenant].chat.completions.with_raw_response.create(
                model="micro", messages=chat(f"{tenant} {i}"), max_tokens=MAX_TOKENS)
            assert raw.parse().choices[0].message.content
            return tenant, 200, raw.headers, None
        except openai.RateLimitError as e:
            return tenant, 429, e.response.headers, e

    jobs = [(t, i) for i in range(5) for t in keys]
    with ThreadPoolExecutor(len(jobs)) as pool:
        results = list(pool.map(one, jobs))

    by = {t: [r for r in results if r[0] == t] for t in keys}
    assert [r[1] for r in by["a"]].count(200) == 3, [(r[1], r[3]) for r in by["a"]]
    assert [r[1] for r in by["a"]].count(429) == 2
    for t in ("b", "c"):
        assert all(r[1] == 200 for r in by[t]), [(r[1], r[3]) for r in by[t]]
    for _, status, headers, e in by["a"]:
        if status == 429:
            assert_retry_after(headers, e)
            assert "3 requests per minute" in e.message and "'a'" in e.message, e.message
            assert e.body["code"] == "rate_limit_exceeded", e.body
    # Each success says how much of the minute is left: A's three took 2, 1 and 0 remaining.
    a_ok = [h for _, s, h, _ in by["a"] if s == 200]
    assert all(h["x-ratelimit-limit-requests"] == "3" for h in a_ok), a_ok
    assert sorted(int(h["x-ratelimit-remaining-requests"]) for h in a_ok) == [0, 1, 2]
    b_ok = [h for _, _, h, _ in by["b"]]
    assert all(h["x-ratelimit-limit-requests"] == "10" for h in b_ok)
    assert sorted(int(h["x-ratelimit-remaining-requests"]) for h in b_ok) == [5, 6, 7, 8, 9]
    assert all(re.fullmatch(r"\d+s", h["x-ratelimit-reset-requests"]) for h in a_ok + b_ok)
    # The refusals are counted per tenant and limit.
    text = requests.get(g.endpoint + "/metrics", timeout=10).text
    assert 'strata_rate_limited_total{tenant="a",limit="requests"} 2' in text, [
        l for l in text.splitlines() if "rate_limited" in l]
    assert 'tenant="b"' not in "".join(l for l in text.splitlines() if l.startswith("strata_rate_limited_total"))


# ---- 2. two replicas, one limit ----------------------------------------------------------------------


def test_two_replicas_from_the_example_accept_exactly_the_shared_limit(sim, start):
    text = (REPO / "examples" / "replicas.yaml").read_text()
    env = {"SIM": sim.endpoint, "STRATA_NAMESPACE": unique("strata-tt-replicas-")}
    replicas = [start(text, env), start(text, env)]
    statuses = []
    for i in range(40):
        g = replicas[i % 2]
        r = requests.post(g.endpoint + "/v1/chat/completions", headers={"Authorization": "Bearer sk-shared"},
                          json={"model": "nova-micro", "messages": chat(f"replica {i}"), "max_tokens": 5},
                          timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert_retry_after(r.headers, r.text)
            assert r.json()["error"]["code"] == "rate_limit_exceeded", r.text
        else:
            assert r.status_code == 200, (i, r.text, g.stderr()[-2000:])
            assert r.headers["x-ratelimit-limit-requests"] == "20"
            assert r.headers["x-ratelimit-remaining-requests"] == str(19 - i), (i, dict(r.headers))
    # All within one minute: the first 20, whichever replica took them, then none.
    assert statuses == [200] * 20 + [429] * 20, statuses


# ---- 3. budgets over two processes on Redis and PostgreSQL ---------------------------------------------


def test_a_budget_holds_exactly_across_two_replicas_with_postgres(sim, start, pg_url):
    cap_requests = 5
    cap = cap_requests * REQUEST_USD
    text = config(sim, f"  - {{name: metered, keys: [sk-metered-000001], budget: {{usd_per_day: {cap}}}}}",
                  extra=f"shared: {{redis_url: {REDIS}, namespace: {unique('strata-tt-budget-')}}}\n"
                        f"usage: {{database_url: '{pg_url}'}}\n" + PRICING)
    replicas = [start(text), start(text)]
    sent = 16

    def one(i):
        try:
            r = oai(replicas[i % 2], "sk-metered-000001").chat.completions.create(
                model="micro", messages=chat(f"spend {i}"), max_tokens=MAX_TOKENS)
            assert r.usage.completion_tokens == MAX_TOKENS, r.usage
            return "ok"
        except openai.RateLimitError as e:
            assert e.body["code"] == "insufficient_quota", e.body
            assert e.body["type"] == "insufficient_quota", e.body
            assert f"{cap:.2f} USD per day" in e.message, e.message
            assert_retry_after(e.response.headers, e.message)
            return "insufficient_quota"

    with ThreadPoolExecutor(sent) as pool:
        outcomes = list(pool.map(one, range(sent)))
    # Each reservation is exactly the request's real cost, so the cap admits exactly its number
    # of requests: never more (the cap is hard), never fewer (nothing is held back).
    assert outcomes.count("ok") == cap_requests, outcomes
    assert outcomes.count("insufficient_quota") == sent - cap_requests, outcomes
    # Both replicas write into the one database: either reads every request and the whole spend.
    for g in replicas:
        row = wait_usage(g, "metered", sent)
        assert row["rate_limited"] == sent - cap_requests, row
        assert row["cost_usd"] <= cap + 1e-9, row
        assert row["cost_usd"] == pytest.approx(cap), row
        assert row["output_tokens"] == cap_requests * MAX_TOKENS, row
    # The cap stays closed for a later request too.
    status, headers, body = ask(replicas[0], "sk-metered-000001", "one more")
    assert (status, body["error"]["code"]) == (429, "insufficient_quota"), body


# ---- 4. Redis stopped and restarted ---------------------------------------------------------------------


def test_redis_stopped_and_restarted_open_and_closed_tenants(sim, start, private_redis):
    open_key, closed_key = "sk-fail-open-000001", "sk-fail-closed-001"
    local_rpm = 4
    g = start(config(sim, f"""  - {{name: lenient, keys: [{open_key}], rpm: {local_rpm}, on_shared_failure: open}}
  - {{name: strict, keys: [{closed_key}], rpm: 1000, on_shared_failure: closed}}""",
                     extra=f"shared: {{redis_url: 'redis://127.0.0.1:{private_redis.port}', "
                           f"namespace: {unique('strata-tt-redis-')}}}\n"))
    assert ask(g, open_key, "before 1")[0] == 200
    assert ask(g, closed_key, "before 2")[0] == 200

    private_redis.stop()
    # The lenient tenant is still served, limited by this replica alone (its Redis count is out
    # of reach, so the local stop-gap starts from zero): exactly its limit, then 429.
    local = [ask(g, open_key, f"redis down {i}") for i in range(local_rpm + 1)]
    assert [s for s, _, _ in local] == [200] * local_rpm + [429], [(s, b) for s, _, b in local]
    assert local[-1][2]["error"]["code"] == "rate_limit_exceeded", local[-1][2]
    # The strict tenant is refused while its limits cannot be checked.
    status, headers, body = ask(g, closed_key, "redis down strict")
    assert status == 503, body
    assert body["error"]["code"] == "limits_unavailable", body
    assert_retry_after(headers, body)

    private_redis.start()
    # Back without a restart: the strict tenant is admitted again, and the lenient one is counted
    # in Redis again (its local stop-gap, full by now, would refuse it).
    deadline = time.monotonic() + 20
    while True:
        strict = ask(g, closed_key, "redis back strict")
        lenient = ask(g, open_key, "redis back lenient")
        if strict[0] == 200 and lenient[0] == 200:
            break
        assert time.monotonic() < deadline, (strict[2], lenient[2], g.stderr()[-2000:])
        time.sleep(0.2)
    assert g.proc.poll() is None


# ---- 5. SIGTERM under load ------------------------------------------------------------------------------


def _inflight_on_dashboard(g: Gateway) -> int:
    """Requests in the upstream call right now, as the dashboard's traffic section shows them."""
    traffic = requests.get(g.endpoint + "/admin/traffic", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
    return traffic.json()["in_flight"]


def test_sigterm_under_load_answers_everything_and_records_every_request(tmp_path, start):
    # An emulator of this test's own, paced so that requests stay in flight for seconds.
    slow = Sim(find_binary(), log_dir=tmp_path)
    try:
        r = slow.post("/_sim/latency", {"ttft_ms": 0, "tokens_per_second": 8, "jitter": 0})
        assert r.status_code == 200, r.text
        db = tmp_path / "usage.db"
        g = start(config(slow, "  - {name: busy, keys: [sk-busy-00000001]}",
                         extra=f"usage: {{database_url: 'sqlite:{db}'}}\n"))
        client = oai(g, "sk-busy-00000001")
        n_stream = n_plain = 10
        lock = threading.Lock()
        progress = {"stream_heads": 0, "plain_done": 0, "done": 0}

        def streamed(i):
            stream = client.chat.completions.create(model="micro", messages=chat(f"long stream {i}"),
                                                    max_tokens=40, stream=True,
                                                    stream_options={"include_usage": True})
            with lock:
                progress["stream_heads"] += 1
            text, finish, usage = "", None, None
            for chunk in stream:
                for c in chunk.choices:
                    text += c.delta.content or ""
                    finish = c.finish_reason or finish
                usage = chunk.usage or usage
            with lock:
                progress["done"] += 1
            return text, finish, usage

        def plain(i):
            r = client.chat.completions.create(model="micro", messages=chat(f"long answer {i}"), max_tokens=40)
            with lock:
                progress["plain_done"] += 1
                progress["done"] += 1
            return r.choices[0].message.content, r.choices[0].finish_reason, r.usage

        with ThreadPoolExecutor(n_stream + n_plain) as pool:
            futures = [pool.submit(streamed, i) for i in range(n_stream)]
            futures += [pool.submit(plain, i) for i in range(n_plain)]
            # Every request has reached the gateway: each stream has its head, each plain request
            # is in its upstream call or already answered.
            deadline = time.monotonic() + 30
            while True:
                with lock:
                    heads, plain_done = progress["stream_heads"], progress["plain_done"]
                if heads == n_stream and _inflight_on_dashboard(g) + plain_done >= n_plain:
                    break
                assert time.monotonic() < deadline, (progress, g.stderr()[-2000:])
                time.sleep(0.02)
            with lock:
                done_at_signal = progress["done"]
            g.stopped_by_test = True
            g.proc.send_signal(signal.SIGTERM)
            answers = [f.result(timeout=60) for f in futures]
        assert done_at_signal < n_stream + n_plain, "every request ended before SIGTERM: nothing was in flight"
        for text, finish, usage in answers:
            assert text and finish in ("stop", "length"), (text, finish)
            assert usage and usage.completion_tokens > 0, usage
        assert g.proc.wait(timeout=60) == 0, g.stderr()[-3000:]
        with sqlite3.connect(db) as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM usage GROUP BY status").fetchall()
        assert rows == [(200, n_stream + n_plain)], (rows, g.stderr()[-3000:])
    finally:
        slow.stop()


# ---- 6. the usage API equals what clients saw ----------------------------------------------------------


def test_usage_api_totals_equal_the_tokens_clients_received(sim, start, tmp_path):
    key = "sk-counted-000001"
    g = start(config(sim, f"  - {{name: counted, keys: [{key}]}}",
                     extra=f"usage: {{database_url: 'sqlite:{tmp_path / 'usage.db'}'}}\n"))
    client = oai(g, key)
    seen = {"micro": [0, 0, 0], "lite": [0, 0, 0]}  # requests, input, output

    def saw(model, input_tokens, output_tokens):
        assert input_tokens > 0 and output_tokens > 0
        s = seen[model]
        s[0], s[1], s[2] = s[0] + 1, s[1] + input_tokens, s[2] + output_tokens

    for i in range(3):
        r = client.chat.completions.create(model="micro", messages=chat(f"plain question {i} " * (i + 1)),
                                           max_tokens=30)
        saw("micro", r.usage.prompt_tokens, r.usage.completion_tokens)
    for i in range(3):
        usage = None
        for chunk in client.chat.completions.create(model="lite", messages=chat(f"streamed question {i}"),
                                                    max_tokens=50, stream=True,
                                                    stream_options={"include_usage": True}):
            usage = chunk.usage or usage
        assert usage is not None, "no usage chunk despite include_usage"
        saw("lite", usage.prompt_tokens, usage.completion_tokens)
    rt = g.bedrock(key)
    for i in range(2):
        u = rt.converse(modelId="micro", messages=[{"role": "user", "content": [{"text": f"bedrock {i}"}]}],
                        inferenceConfig={"maxTokens": 40})["usage"]
        saw("micro", u["inputTokens"], u["outputTokens"])
    events = rt.converse_stream(modelId="lite", messages=[{"role": "user", "content": [{"text": "bedrock s"}]}],
                                inferenceConfig={"maxTokens": 60})["stream"]
    u = next(e["metadata"]["usage"] for e in events if "metadata" in e)
    saw("lite", u["inputTokens"], u["outputTokens"])
    n = sum(s[0] for s in seen.values())

    row = wait_usage(g, "counted", n)
    assert (row["requests"], row["errors"], row["rate_limited"]) == (n, 0, 0), row
    assert row["input_tokens"] == sum(s[1] for s in seen.values()), (row, seen)
    assert row["output_tokens"] == sum(s[2] for s in seen.values()), (row, seen)
    assert row["tenant"] == "counted"

    by_model = {r["model"]: r for r in usage_rows(g, tenant="counted", group_by="model")}
    assert set(by_model) == {"micro", "lite"}, by_model
    for model, (count, inp, out) in seen.items():
        got = by_model[model]
        assert (got["requests"], got["input_tokens"], got["output_tokens"]) == (count, inp, out), (model, got)
    only_lite = usage_rows(g, tenant="counted", model="lite")
    assert len(only_lite) == 1 and only_lite[0]["requests"] == seen["lite"][0], only_lite

    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    by_day = usage_rows(g, tenant="counted", group_by="day", since="1d")
    # (A run across midnight UTC may split the day; the totals still hold.)
    assert {r["day"] for r in by_day} <= {today, (datetime.datetime.now(datetime.timezone.utc)
                                                  - datetime.timedelta(days=1)).strftime("%Y-%m-%d")}, by_day
    assert sum(r["requests"] for r in by_day) == n
    assert sum(r["output_tokens"] for r in by_day) == row["output_tokens"]
    assert usage_rows(g, tenant="nobody") == []
    bad = admin(g, "GET", "/admin/usage", group_by="week")
    assert bad.status_code == 400, bad.text


# ---- 7. keys -----------------------------------------------------------------------------------------------


def _works(g: Gateway, key: str) -> int:
    return ask(g, key, "key check")[0]


def test_keys_created_rotated_with_grace_revoked_and_audited(sim, start, tmp_path):
    hashed_clear = "sk-hashed-key-000001"
    digest = hashlib.sha256(hashed_clear.encode()).hexdigest()
    g = start(config(sim, f"  - {{name: apps, keys: ['sha256:{digest}']}}\n  - {{name: other, keys: [sk-other-0000001]}}",
                     extra=f"usage: {{database_url: 'sqlite:{tmp_path / 'keys.db'}'}}\n"))
    # A key configured as its hash works with the clear key (and the hash itself is no key).
    assert _works(g, hashed_clear) == 200
    assert _works(g, f"sha256:{digest}") == 401
    assert _works(g, digest) == 401

    r = admin(g, "POST", "/admin/keys", {"tenant": "apps", "name": "ci"})
    assert r.status_code == 201, r.text
    created = r.json()
    first_id, first = created["id"], created["key"]
    assert first and created["tenant"] == "apps"
    assert admin(g, "POST", "/admin/keys", {"tenant": "nobody"}).status_code == 404
    assert requests.post(g.endpoint + "/admin/keys", json={"tenant": "apps"}, timeout=10,
                         headers={"Authorization": f"Bearer {first}"}).status_code in (401, 403)
    assert _works(g, first) == 200

    def listed(key_id):
        r = admin(g, "GET", "/admin/keys", tenant="apps")
        assert r.status_code == 200, r.text
        assert first not in r.text and hashed_clear not in r.text and digest not in r.text, r.text
        return next(k for k in r.json()["keys"] if k["id"] == key_id)

    # last use comes from the usage records, written off the request path: wait for it.
    deadline = time.monotonic() + 15
    while listed(first_id)["last_used_at_ms"] is None:
        assert time.monotonic() < deadline, listed(first_id)
        time.sleep(0.05)
    assert listed(first_id)["status"] == "active"

    rotated_at = time.time()
    r = admin(g, "POST", f"/admin/keys/{first_id}/rotate", {"grace_seconds": 2})
    assert r.status_code == 201, r.text
    second_id, second = r.json()["id"], r.json()["key"]
    assert second != first and second_id != first_id
    assert _works(g, second) == 200
    if time.time() < rotated_at + 1.5:  # both work during the grace period
        assert _works(g, first) == 200
    # After the grace period the old key is refused; the new one still works.
    deadline = rotated_at + 15
    while _works(g, first) != 401:
        assert time.time() < deadline, "the rotated key still works long after its grace period"
        time.sleep(0.1)
    assert time.time() >= rotated_at + 1.9, "the rotated key was refused before its grace period ended"
    assert _works(g, second) == 200
    assert listed(first_id)["status"] == "expired"

    r = admin(g, "DELETE", f"/admin/keys/{second_id}")
    assert r.status_code == 200, r.text
    assert _works(g, second) == 401
    assert listed(second_id)["status"] == "revoked"
    assert _works(g, hashed_clear) == 200  # other keys unaffected

    r = admin(g, "GET", "/admin/audit")
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    actions = [(e["action"], e["subject"]) for e in events]
    for expected in [("key.create", first_id), ("key.rotate", first_id), ("key.create", second_id),
                     ("key.revoke", second_id)]:
        assert expected in actions, (expected, events)
    actors = {e["actor"] for e in events}
    assert len(actors) == 1 and ADMIN not in r.text, events
    assert re.fullmatch(r"admin/\S+", actors.pop()), events
    assert first not in r.text and second not in r.text


# ---- 8. the Bedrock dialect's refusals -------------------------------------------------------------------


def test_bedrock_dialect_throttling_and_service_quota_shapes(sim, start):
    g = start(config(sim, f"""  - {{name: slow, keys: [sk-slow-00000001], rpm: 1}}
  - {{name: poor, keys: [sk-poor-00000001], budget: {{usd_per_day: {REQUEST_USD}}}}}""", extra=PRICING))
    message = [{"role": "user", "content": [{"text": "hello"}]}]

    rt = g.bedrock("sk-slow-00000001")
    assert rt.converse(modelId="micro", messages=message, inferenceConfig={"maxTokens": MAX_TOKENS})["output"]
    with pytest.raises(ClientError) as refused:
        rt.converse(modelId="micro", messages=message, inferenceConfig={"maxTokens": MAX_TOKENS})
    assert error_code(refused.value) == "ThrottlingException", refused.value.response
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert "1 requests per minute" in refused.value.response["Error"]["Message"]
    assert_retry_after(refused.value.response["ResponseMetadata"]["HTTPHeaders"], refused.value.response)

    rt = g.bedrock("sk-poor-00000001")
    assert rt.converse(modelId="micro", messages=message, inferenceConfig={"maxTokens": MAX_TOKENS})["output"]
    for call in (lambda: rt.converse(modelId="micro", messages=message, inferenceConfig={"maxTokens": MAX_TOKENS}),
                 lambda: rt.converse_stream(modelId="micro", messages=message,
                                            inferenceConfig={"maxTokens": MAX_TOKENS})):
        with pytest.raises(ClientError) as over:
            call()
        assert error_code(over.value) == "ServiceQuotaExceededException", over.value.response
        assert "USD per day" in over.value.response["Error"]["Message"]


# ---- 9. audit bodies only for tenants that opt in --------------------------------------------------


def test_audit_bodies_are_kept_only_for_tenants_that_opt_in(sim, start, tmp_path):
    db = tmp_path / "audit.db"
    g = start(config(sim, "  - {name: audited, keys: [sk-audited-0001], audit_bodies: true}\n"
                          "  - {name: private, keys: [sk-private-0001]}",
                     extra=f"usage: {{database_url: 'sqlite:{db}'}}\n"))
    marker = unique("marker-")
    for key in ("sk-audited-0001", "sk-private-0001"):
        status, _, body = ask(g, key, f"please remember {marker}")
        assert status == 200, body
    g.stopped_by_test = True
    g.proc.send_signal(signal.SIGTERM)
    assert g.proc.wait(timeout=60) == 0, g.stderr()[-3000:]
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT tenant, audit_body FROM usage").fetchall())
    audited = json.loads(rows["audited"])
    assert marker in audited["request"], audited
    assert audited["response"] and "output" in audited["response"], audited
    assert rows["private"] is None, rows
    assert marker not in g.stderr(), "a prompt reached the log"
