"""Acceptance tests for the gateway's request path, driven by the real `openai` and `boto3`
clients against `strata serve` in front of `strata sim --zero-latency`:

- a catalog lie on one EU candidate is routed around (and quarantined) for an EU tenant;
- a deployment's `tpm` / `rpm` budget holds on every API, is keyed by (logical model, target),
  and every 429 carries `retry-after`;
- streamed tokens reach `strata_tokens_total`;
- prompts never reach the gateway's logs, and no log line is huge;
- unknown paths and methods answer in each API's error shape;
- "nothing may serve" errors say why;
- a concrete Bedrock ID works on both APIs under the same residency check;
- exactly one `strata_usage` record per request, disconnected streams included.

Every gateway here runs with RUST_LOG unset (the default `info` filter), so its stderr is what an
operator would see."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime

import openai
import pytest
import requests
from botocore.exceptions import ClientError
from openai import OpenAI

from gatewaylib import admin_get, gateways, static_account, wait_for_round

NOVA = "amazon.nova-pro-v1:0"
NOVA_LITE = "amazon.nova-lite-v1:0"
NOVA_MICRO = "amazon.nova-micro-v1:0"
MISTRAL = "mistral.mistral-large-2402-v1:0"
EU_NOVA = "eu." + NOVA
US_NOVA = "us." + NOVA

US_KEY = "sk-test-us-000001"
EU_KEY = "sk-test-eu-000001"
ADMIN = "sk-test-admin-0001"
EU_REGIONS = ["eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
              "eu-west-3"]

MARKER = "MARKER-7f3a9c"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


# ---- configuration and fixtures ----------------------------------------------------------------


def config(sim, models: str, *, discovery: str = "discovery: {enabled: false}", routing: str = "") -> str:
    f = sim.fleet
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(f, "prod-us")}{static_account(f, "prod-eu")}{discovery}
models:{models}
tenants:
  - {{name: us-apps, keys: [{US_KEY}], residency: [us], route_detail: full}}
  - {{name: eu-bank, keys: [{EU_KEY}], residency: [eu], route_detail: full}}
admin:
  keys: [{ADMIN}]
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 3, base_delay_ms: 1, max_delay_ms: 20}}
{routing}"""


def pinned(name: str, account: str, region: str, model: str, extra: str = "") -> str:
    return f"""
  - name: {name}
    deployments:
      - {{account: {account}, region: {region}, model: {model}{extra}}}"""


@pytest.fixture
def gateway(sim, tmp_path, monkeypatch):
    """start(config_text) → a gateway with RUST_LOG unset (the default `info` filter)."""
    env = {k: v for k, v in os.environ.items() if k != "RUST_LOG"}
    yield from gateways(tmp_path, monkeypatch, lambda: pytest.fail("give a config"), env=env)


@pytest.fixture
def paced(sim):
    """set(tokens_per_second): paces the emulator's streams; zero latency again afterwards
    (`/_sim/reset` does not restore the latency model)."""

    def set_pace(tokens_per_second: int) -> None:
        r = sim.post("/_sim/latency", {"ttft_ms": 0, "tokens_per_second": tokens_per_second, "jitter": 0})
        assert r.status_code == 200, r.text

    yield set_pace
    r = sim.post("/_sim/latency", {"ttft_ms": 0, "tokens_per_second": 0, "jitter": 0})
    assert r.status_code == 200, r.text


def oai(g, key=US_KEY) -> OpenAI:
    # max_retries=0: the openai client would otherwise retry 429s itself and hide them.
    return OpenAI(base_url=g.endpoint + "/v1", api_key=key, max_retries=0, timeout=20)


def user(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


def chat(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def headers_of(exc: ClientError) -> dict:
    return exc.response["ResponseMetadata"]["HTTPHeaders"]


def metric(text: str, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include every given label (absent: 0)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def metrics(g) -> str:
    r = requests.get(g.endpoint + "/metrics", timeout=10)
    assert r.status_code == 200, r.text
    return r.text


def poll(what: str, fn, timeout: float = 10.0, interval: float = 0.05):
    """fn() until it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def poll_value(fn, done, timeout: float = 10.0, interval: float = 0.05):
    """fn() until done(value) or `timeout` seconds; returns the last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def assert_retry_after(value, context) -> None:
    assert value, f"a 429 without retry-after: {context}"
    value = value.strip()
    if not re.fullmatch(r"\d+", value):
        parsedate_to_datetime(value)  # an HTTP-date is the only other legal form


def assert_says_why(message, context="") -> None:
    """An error message that is non-empty and never a prefix left without its reason."""
    assert isinstance(message, str) and message.strip(), f"empty error message {context}"
    assert not message.rstrip().endswith(":"), f"message ends in a colon: {message!r} {context}"
    assert message.rsplit(": ", 1)[-1].strip(), f"nothing after the colon: {message!r} {context}"


def log_lines(g) -> list[str]:
    return ANSI.sub("", g.stderr()).splitlines()


def usage_lines(g) -> list[str]:
    return [line for line in log_lines(g) if re.search(r"\bINFO\b.*\sstrata_usage:\s", line)]


def fields(line: str) -> dict:
    """key=value fields of a tracing text line (quoted values unquoted)."""
    out = {}
    for k, v in re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line):
        out[k] = v[1:-1] if v.startswith('"') else v
    return out


# ---- 1. a catalog lie on one EU candidate ------------------------------------------------------


def test_catalog_lie_on_one_eu_candidate_is_routed_around_and_quarantined(sim, gateway):
    # Nova Pro for prod-eu: the in-region ID in eu-west-2 (tried first) and the eu. profile from
    # four other EU source regions. No baseline: success must come from the other candidates.
    g = gateway(config(sim, f"""
  - name: nova
    strategy: priority
    discover: {{model: {NOVA}, layers: [in_region, geography], accounts: [prod-eu]}}""",
                       discovery=f"discovery: {{regions: [{', '.join(EU_REGIONS)}], refresh_seconds: 300, "
                                 f"models: [{NOVA}]}}"))
    wait_for_round(g, ADMIN)
    lying = f"prod-eu/eu-west-2/{NOVA}"
    r = admin_get(g, "/admin/routes", ADMIN, model="nova")
    assert r.status_code == 200, r.text
    targets = {c["target"] for c in r.json()["models"][0]["candidates"]}
    assert lying in targets and len(targets) >= 3, targets
    sim.add_fault(kind="catalog_lie", account="prod-eu", region="eu-west-2", model=NOVA)

    client = oai(g, EU_KEY)
    for i in range(20):
        r = client.chat.completions.create(model="nova", messages=chat(f"lie {i}"), max_tokens=5)
        assert r.choices[0].message.content, i
    rt = g.bedrock(EU_KEY)
    for i in range(20):
        r = rt.converse(modelId="nova", messages=[user(f"lie again {i}")], inferenceConfig={"maxTokens": 5})
        assert r["stopReason"] and r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"] != lying, i

    rows = sim.invocations()
    assert {row["region"] for row in rows} <= set(EU_REGIONS), rows
    lied_to = sum(row["count"] for row in rows if row["source_region"] == "eu-west-2" and row["status"] != 200)
    assert lied_to <= 3, f"the lying candidate was tried {lied_to} times: {rows}"
    account, region, target = lying.split("/", 2)
    invalid = metric(metrics(g), "strata_upstream_attempts_total", account=account, region=region,
                     target=target, outcome="invalid")
    assert invalid <= 3, invalid


# ---- 2. a deployment's tokens-per-minute budget --------------------------------------------------

TPM = 3000
# One logical model per API, each pinning its own target, so budgets cannot mix however the
# limiter is keyed.
TPM_MODELS = {
    "converse": ("tpm-converse", NOVA),
    "converse-stream": ("tpm-converse-stream", NOVA_LITE),
    "openai": ("tpm-openai", NOVA_MICRO),
    "openai-stream": ("tpm-openai-stream", MISTRAL),
}


def _tpm_call(client, api: str, model: str, i: int):
    """('ok', real tokens) or ('429', retry-after); anything else raises. `client` is a boto3
    bedrock-runtime client for the converse APIs, an OpenAI client for the others."""
    prompt = f"t {i}"
    if api.startswith("converse"):
        try:
            if api == "converse":
                usage = client.converse(modelId=model, messages=[user(prompt)],
                                        inferenceConfig={"maxTokens": 100})["usage"]
            else:
                events = list(client.converse_stream(modelId=model, messages=[user(prompt)],
                                                     inferenceConfig={"maxTokens": 100})["stream"])
                usage = events[-1]["metadata"]["usage"]
            return "ok", usage["inputTokens"] + usage["outputTokens"]
        except ClientError as e:
            if e.response["Error"]["Code"] != "ThrottlingException":
                raise
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429, e.response
            return "429", headers_of(e).get("retry-after")
    try:
        if api == "openai":
            usage = client.chat.completions.create(model=model, messages=chat(prompt), max_tokens=100).usage
        else:
            chunks = list(client.chat.completions.create(model=model, messages=chat(prompt), max_tokens=100,
                                                         stream=True, stream_options={"include_usage": True}))
            usage = chunks[-1].usage
        return "ok", usage.prompt_tokens + usage.completion_tokens
    except openai.RateLimitError as e:
        return "429", e.response.headers.get("retry-after")


@pytest.mark.parametrize("api", list(TPM_MODELS))
def test_deployment_tpm_budget_holds_on_every_api(sim, gateway, api):
    name, target = TPM_MODELS[api]
    g = gateway(config(sim, pinned(name, "prod-us", "us-east-1", target, f", tpm: {TPM}")))
    client = g.bedrock(US_KEY) if api.startswith("converse") else oai(g)  # shared by the threads
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        results = [f.result() for f in [pool.submit(_tpm_call, client, api, name, i) for i in range(100)]]
    elapsed = time.monotonic() - started
    served = [tokens for kind, tokens in results if kind == "ok"]
    refused = [retry_after for kind, retry_after in results if kind == "429"]
    assert len(served) >= 10, f"only {len(served)} requests served; {len(refused)} refused"
    assert refused, f"all 100 requests served, {sum(served)} tokens, over a {TPM} tokens/minute budget"
    # A budget that refills continuously may have regained elapsed/60 of itself meanwhile.
    allowance = TPM + max(served) + TPM * elapsed / 60
    assert sum(served) <= allowance, (sum(served), max(served), elapsed, len(served))
    assert elapsed < 45, elapsed
    for retry_after in refused:
        assert_retry_after(retry_after, api)


# ---- 3. rpm is keyed by (logical model, target) --------------------------------------------------


def test_rpm_budget_is_per_logical_model_on_a_shared_target(sim, gateway):
    g = gateway(config(sim, pinned("limited", "prod-us", "us-east-1", NOVA_MICRO, ", rpm: 3")
                       + pinned("unlimited", "prod-us", "us-east-1", NOVA_MICRO)))
    client = oai(g)
    for i in range(5):  # the unlimited model's traffic does not spend the limited one's budget
        assert client.chat.completions.create(model="unlimited", messages=chat(f"u {i}"), max_tokens=5).choices
    outcomes, retry_afters = [], []
    for i in range(6):
        try:
            client.chat.completions.create(model="limited", messages=chat(f"l {i}"), max_tokens=5)
            outcomes.append("ok")
        except openai.RateLimitError as e:
            retry_afters.append(e.response.headers.get("retry-after"))
            outcomes.append("429")
    assert outcomes.count("ok") == 3 and outcomes.count("429") == 3, outcomes
    for i in range(5):  # ... and is not limited by it
        assert client.chat.completions.create(model="unlimited", messages=chat(f"v {i}"), max_tokens=5).choices
    r = g.bedrock(US_KEY).converse(modelId="unlimited", messages=[user("still")], inferenceConfig={"maxTokens": 5})
    assert r["stopReason"]
    with pytest.raises(ClientError) as e:
        g.bedrock(US_KEY).converse(modelId="limited", messages=[user("no")], inferenceConfig={"maxTokens": 5})
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    for retry_after in retry_afters:
        assert_retry_after(retry_after, "rpm, openai")
    assert_retry_after(headers_of(e.value).get("retry-after"), "rpm, bedrock")


# ---- 4. streamed tokens reach the metrics --------------------------------------------------------


def test_streamed_tokens_reach_the_token_counter(sim, gateway):
    g = gateway(config(sim, pinned("tok-bedrock", "prod-us", "us-east-1", NOVA)
                       + pinned("tok-openai", "prod-us", "us-east-1", NOVA_LITE)))

    def counted(model, kind, text=None):
        return metric(text if text is not None else metrics(g), "strata_tokens_total",
                      model=model, tenant="us-apps", kind=kind)

    before = metrics(g)
    base = {(m, d): counted(m, d, before) for m in ("tok-bedrock", "tok-openai") for d in ("input", "output")}
    seen = {key: 0 for key in base}
    rt = g.bedrock(US_KEY)
    for i in range(5):
        events = list(rt.converse_stream(modelId="tok-bedrock", messages=[user(f"stream tokens {i}" * (i + 1))],
                                         inferenceConfig={"maxTokens": 40 + i})["stream"])
        usage = events[-1]["metadata"]["usage"]
        seen["tok-bedrock", "input"] += usage["inputTokens"]
        seen["tok-bedrock", "output"] += usage["outputTokens"]
    client = oai(g)
    for i in range(5):
        chunks = list(client.chat.completions.create(model="tok-openai", messages=chat(f"openai tokens {i}" * (i + 1)),
                                                     max_tokens=40 + i, stream=True,
                                                     stream_options={"include_usage": True}))
        seen["tok-openai", "input"] += chunks[-1].usage.prompt_tokens
        seen["tok-openai", "output"] += chunks[-1].usage.completion_tokens
    assert all(seen.values()), seen

    def growth():
        text = metrics(g)
        return {key: counted(*key, text) - base[key] for key in base}

    # Counted when each stream ends, which may be just after the client saw its last event.
    now = poll_value(growth, lambda now: all(now[k] >= seen[k] for k in seen), timeout=5)
    assert now == seen, f"strata_tokens_total grew by {now}, the clients saw {seen}"


# ---- 5. prompts stay out of the logs -------------------------------------------------------------


def test_prompts_never_reach_the_logs(sim, gateway):
    g = gateway(config(sim, pinned("private", "prod-us", "us-east-1", NOVA)
                       + pinned("private-rejected", "prod-us", "us-east-1", NOVA_LITE)
                       + pinned("private-big", "prod-us", "us-east-1", NOVA_MICRO)))
    client, rt = oai(g), g.bedrock(US_KEY)
    # Served: the marker in the system prompt and the user's text.
    r = client.chat.completions.create(model="private", max_tokens=10, messages=[
        {"role": "system", "content": f"system {MARKER}"}, {"role": "user", "content": f"hello {MARKER}"}])
    assert r.choices[0].message.content
    list(client.chat.completions.create(model="private", messages=chat(f"stream {MARKER}"), max_tokens=10,
                                        stream=True, stream_options={"include_usage": True}))
    assert rt.converse(modelId="private", messages=[user(f"hello {MARKER}")], system=[{"text": MARKER}],
                       inferenceConfig={"maxTokens": 10})["stopReason"]
    list(rt.converse_stream(modelId="private", messages=[user(f"stream {MARKER}")])["stream"])

    # Rejected by the upstream with a message that quotes the request: a toolChoice naming an
    # undefined tool ("The tool MARKER-… named in toolChoice is not defined in toolConfig.tools.").
    tool = {"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="private-rejected", messages=[user(f"weather {MARKER}")],
                    toolConfig={"tools": [tool], "toolChoice": {"tool": {"name": MARKER}}})
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    oai_tool = {"type": "function",
                "function": {"name": "get_weather", "parameters": tool["toolSpec"]["inputSchema"]["json"]}}
    with pytest.raises(openai.APIStatusError) as oe:
        client.chat.completions.create(model="private-rejected", messages=chat(f"weather {MARKER}"), tools=[oai_tool],
                                       tool_choice={"type": "function", "function": {"name": MARKER}})
    assert 400 <= oe.value.status_code < 500

    # Rejected by the upstream (ValidationException): a normal prompt and a 100 KB one.
    sim.add_fault(kind="error_rate", model=NOVA_MICRO, error="ValidationException")
    big = f"{MARKER} " + "lorem ipsum dolor sit amet " * 4000 + MARKER
    assert len(big) > 100_000
    for text in (f"rejected {MARKER}", big):
        with pytest.raises(ClientError) as e:
            rt.converse(modelId="private-big", messages=[user(text)], inferenceConfig={"maxTokens": 10})
        assert 400 <= e.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500, e.value.response
        with pytest.raises(openai.APIStatusError) as oe:
            client.chat.completions.create(model="private-big", messages=chat(text), max_tokens=10)
        assert 400 <= oe.value.status_code < 500
    assert sim.invocations(foundation_model=NOVA_MICRO), "the rejections came from the upstream"
    # ... and a rejection whose upstream message quotes 100 KB of the request (the tool name).
    huge_name = MARKER.replace("-", "_") + "x" * 100_000
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="private-rejected", messages=[user(f"weather {MARKER}")],
                    toolConfig={"tools": [tool], "toolChoice": {"tool": {"name": huge_name}}})
    assert 400 <= e.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500, e.value.response

    g.stopped_by_test = True
    g.stop()  # everything it had to say is on disk
    log = g.stderr()
    assert log.strip(), "the gateway logs at info by default"
    problems = [f"the prompt marker is logged: {line[:500]!r}" for line in log.splitlines() if MARKER in line][:3]
    problems += [f"a log line of {len(line)} characters: {line[:300]!r}…"
                 for line in log.splitlines() if len(line) > 2000][:3]
    assert not problems, "\n".join(problems)


# ---- 6. error shapes for unknown paths and methods -----------------------------------------------


UNKNOWN = [
    ("GET", "/v1/nope", "openai", 404),
    ("POST", "/v1/nope", "openai", 404),
    ("GET", "/v1/chat/completions", "openai", 405),
    ("POST", "/model/x/unknown-op", "bedrock", 404),
    ("GET", "/model/some-model/converse", "bedrock", 405),
    # A model ID that is not UTF-8 once percent-decoded, sent exactly as written.
    ("POST", "/model/%ff%fe/converse", "bedrock", 400),
]


@pytest.mark.parametrize("method,path,dialect,status", UNKNOWN, ids=[f"{m} {p}" for m, p, _, _ in UNKNOWN])
def test_unknown_paths_and_methods_answer_in_the_apis_error_shape(sim, gateway, method, path, dialect, status):
    g = gateway(config(sim, pinned("nova", "prod-us", "us-east-1", NOVA)))
    body = json.dumps({"messages": [user("hi")]} if dialect == "bedrock" else {}) if method == "POST" else None
    hdrs = {"Authorization": f"Bearer {US_KEY}"}
    if body is not None:
        hdrs["Content-Type"] = "application/json"
    # http.client sends the path exactly as written (no re-quoting).
    conn = http.client.HTTPConnection("127.0.0.1", g.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        got_status, got_headers, raw = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
    context = f"{method} {path} -> {got_status} {got_headers} {raw[:300]!r}"
    assert got_status == status, context
    assert got_headers.get("content-type", "").startswith("application/json"), context
    answer = json.loads(raw)
    if dialect == "openai":
        err = answer["error"]
        assert {"message", "type", "code"} <= set(err), context
        assert_says_why(err["message"], context)
    else:
        assert got_headers.get("x-amzn-errortype"), context
        assert_says_why(answer["message"], context)


def test_a_429_from_the_gateway_carries_retry_after(sim, gateway):
    g = gateway(config(sim, pinned("nova", "prod-us", "us-east-1", NOVA)))
    sim.add_fault(kind="throttle", model=NOVA)  # the upstream throttles every call
    with pytest.raises(openai.RateLimitError) as oe:
        oai(g).chat.completions.create(model="nova", messages=chat("throttled"))
    assert_says_why(oe.value.body.get("message") if isinstance(oe.value.body, dict) else oe.value.message)
    with pytest.raises(ClientError) as e:
        g.bedrock(US_KEY).converse(modelId="nova", messages=[user("throttled")])
    assert e.value.response["Error"]["Code"] == "ThrottlingException"
    assert_says_why(e.value.response["Error"]["Message"])
    assert_retry_after(oe.value.response.headers.get("retry-after"), "upstream throttling, openai")
    assert_retry_after(headers_of(e.value).get("retry-after"), "upstream throttling, bedrock")


# ---- 7. "nothing may serve" says why -------------------------------------------------------------


def test_nothing_may_serve_says_why(sim, gateway):
    g = gateway(config(sim, pinned("us-only", "prod-us", "us-east-1", NOVA)
                       + pinned("us-profile", "prod-us", "us-east-1", US_NOVA)))
    for model in ("us-only", "us-profile"):
        with pytest.raises(openai.APIStatusError) as oe:
            oai(g, EU_KEY).chat.completions.create(model=model, messages=chat("bonjour"), max_tokens=5)
        assert 400 <= oe.value.status_code < 500 and oe.value.status_code != 429, oe.value
        message = oe.value.body["message"] if isinstance(oe.value.body, dict) else str(oe.value.body)
        assert_says_why(message, model)
        assert "residen" in message.lower() or "us-east-1" in message, message
        with pytest.raises(ClientError) as e:
            g.bedrock(EU_KEY).converse(modelId=model, messages=[user("bonjour")], inferenceConfig={"maxTokens": 5})
        assert e.value.response["Error"]["Code"] in ("AccessDeniedException", "ValidationException",
                                                     "ResourceNotFoundException"), e.value.response
        message = e.value.response["Error"]["Message"]
        assert_says_why(message, model)
        assert "residen" in message.lower() or "us-east-1" in message, message
    assert not sim.invocations(), "nothing reached the upstream"


# ---- 8. a concrete Bedrock ID on both APIs -------------------------------------------------------


def test_a_concrete_bedrock_id_works_on_both_apis_under_residency(sim, gateway):
    g = gateway(config(sim, pinned("nova-eu", "prod-eu", "eu-central-1", EU_NOVA)
                       + pinned("nova-us", "prod-us", "us-east-1", US_NOVA)))
    eu_route = f"prod-eu/eu-central-1/{EU_NOVA}"
    raw = oai(g, EU_KEY).chat.completions.with_raw_response.create(model=EU_NOVA, messages=chat("bonjour"),
                                                                   max_tokens=5)
    assert raw.headers["x-strata-route"] == eu_route, dict(raw.headers)
    assert raw.parse().choices[0].message.content
    r = g.bedrock(EU_KEY).converse(modelId=EU_NOVA, messages=[user("bonjour")], inferenceConfig={"maxTokens": 5})
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"] == eu_route
    assert {row["model"] for row in sim.invocations()} == {EU_NOVA}

    # The EU tenant may not name a us. profile on either API (a US tenant's model routes to it).
    with pytest.raises(openai.APIStatusError) as oe:
        oai(g, EU_KEY).chat.completions.create(model=US_NOVA, messages=chat("bonjour"), max_tokens=5)
    assert 400 <= oe.value.status_code < 500 and oe.value.status_code != 429, oe.value
    assert_says_why(oe.value.body.get("message") if isinstance(oe.value.body, dict) else oe.value.message)
    with pytest.raises(ClientError) as e:
        g.bedrock(EU_KEY).converse(modelId=US_NOVA, messages=[user("bonjour")], inferenceConfig={"maxTokens": 5})
    assert 400 <= e.value.response["ResponseMetadata"]["HTTPStatusCode"] < 500
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] != 429
    assert_says_why(e.value.response["Error"]["Message"])
    assert not sim.invocations(model=US_NOVA), "the refused calls reached the upstream"

    # ... which the US tenant may, on both APIs.
    us_route = f"prod-us/us-east-1/{US_NOVA}"
    raw = oai(g, US_KEY).chat.completions.with_raw_response.create(model=US_NOVA, messages=chat("hi"), max_tokens=5)
    assert raw.headers["x-strata-route"] == us_route
    r = g.bedrock(US_KEY).converse(modelId=US_NOVA, messages=[user("hi")], inferenceConfig={"maxTokens": 5})
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"] == us_route


# ---- 9. one usage record per request -------------------------------------------------------------


def _long_prompt(sim) -> str:
    """A prompt whose natural answer from Nova Pro is >= 100 tokens, asked of the emulator with a
    raw SigV4 request (boto3 would pick up the gateway key in AWS_BEARER_TOKEN_BEDROCK)."""
    account = next(a for a in sim.fleet.accounts if a["name"] == "prod-us")
    for i in range(200):
        text = f"tell me a long story {i}"
        r = sim.signed("POST", f"/model/{NOVA}/converse", account=account, region="us-east-1",
                       body=json.dumps({"messages": [user(text)]}))
        assert r.status_code == 200, r.text
        if r.json()["usage"]["outputTokens"] >= 100:
            return text
    pytest.fail("no prompt with a long answer among 200")


def _stream_and_hang_up(g, body: dict) -> tuple[int, str]:
    """Starts an OpenAI stream on a raw socket, reads until the first `data:` chunk, and closes
    the connection. Returns (status, x-request-id)."""
    payload = json.dumps(body).encode()
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{g.port}\r\n"
            f"Authorization: Bearer {US_KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n").encode()
    sock = socket.create_connection(("127.0.0.1", g.port), timeout=10)
    try:
        sock.sendall(head + payload)
        buf = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            head_end = buf.find(b"\r\n\r\n")
            if head_end >= 0 and b"data:" in buf[head_end:]:
                break
            chunk = sock.recv(65536)
            assert chunk, f"the gateway closed the stream first: {buf!r}"
            buf += chunk
        else:
            raise AssertionError(f"no first chunk within 10 s: {buf!r}")
        lines = buf[:head_end].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
        return status, hdrs.get("x-request-id", "")
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()


def test_usage_records_can_be_turned_off_and_limits_still_hold(sim, gateway):
    g = gateway(config(sim, pinned("use-limited", "prod-us", "us-east-1", NOVA_LITE, ", rpm: 1"))
                + "usage: {records: false}\n")
    client = oai(g)
    client.chat.completions.create(model="use-limited", messages=chat("one"), max_tokens=5)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="use-limited", messages=chat("two"), max_tokens=5)
    g.stopped_by_test = True
    g.stop()  # shutdown writes whatever is queued
    assert len(usage_lines(g)) == 2, "the access log still has a line per request"
    database = sqlite3.connect(f"{g.config_path}.usage.db")
    try:
        assert database.execute("SELECT count(*) FROM usage").fetchone()[0] == 0
    finally:
        database.close()


def test_one_usage_record_per_request(sim, gateway, paced):
    g = gateway(config(sim, pinned("use-nova", "prod-us", "us-east-1", NOVA)
                       + pinned("use-limited", "prod-us", "us-east-1", NOVA_LITE, ", rpm: 1")))
    client, rt = oai(g), g.bedrock(US_KEY)
    sent = []  # (dialect, status the client saw, x-request-id or None)

    raw = client.chat.completions.with_raw_response.create(model="use-nova", messages=chat("one"), max_tokens=5)
    raw.parse()
    sent.append(("openai", 200, raw.headers.get("x-request-id")))
    r = rt.converse(modelId="use-nova", messages=[user("two")], inferenceConfig={"maxTokens": 5})
    sent.append(("bedrock", 200, r["ResponseMetadata"]["HTTPHeaders"].get("x-request-id")))
    r = rt.converse_stream(modelId="use-nova", messages=[user("three")], inferenceConfig={"maxTokens": 5})
    list(r["stream"])
    sent.append(("bedrock", 200, r["ResponseMetadata"]["HTTPHeaders"].get("x-request-id")))
    with pytest.raises(openai.APIStatusError) as oe:
        client.chat.completions.create(model="no-such-model", messages=chat("four"))
    sent.append(("openai", oe.value.status_code, oe.value.response.headers.get("x-request-id")))
    with pytest.raises(ClientError) as e:
        rt.converse(modelId="no-such-model", messages=[user("five")])
    sent.append(("bedrock", e.value.response["ResponseMetadata"]["HTTPStatusCode"],
                 headers_of(e.value).get("x-request-id")))
    raw = client.chat.completions.with_raw_response.create(model="use-limited", messages=chat("six"), max_tokens=5)
    raw.parse()
    sent.append(("openai", 200, raw.headers.get("x-request-id")))
    with pytest.raises(openai.RateLimitError) as oe:
        client.chat.completions.create(model="use-limited", messages=chat("seven"), max_tokens=5)
    sent.append(("openai", 429, oe.value.response.headers.get("x-request-id")))

    # A stream the client abandons after its first chunk (paced so it is still running then).
    prompt = _long_prompt(sim)
    paced(20)
    status, hung_up = _stream_and_hang_up(g, {"model": "use-nova", "messages": chat(prompt), "stream": True,
                                              "stream_options": {"include_usage": True}})
    assert status == 200 and hung_up, (status, hung_up)
    sent.append(("openai", 200, hung_up))

    def hung_up_line():
        return next((line for line in usage_lines(g) if fields(line).get("request_id") == hung_up), None)

    line = poll(f"the usage record of the abandoned stream {hung_up}", hung_up_line, timeout=10)
    assert re.search(r"\bstatus=\d{3}\b", line), line
    assert re.search(r"\w*tokens\w*=\d+", line), line

    g.stopped_by_test = True
    g.stop()
    lines = usage_lines(g)
    assert len(lines) == len(sent), "\n".join(lines)
    records = [fields(line) for line in lines]
    ids = [rec.get("request_id") for rec in records]
    assert all(ids) and len(set(ids)) == len(ids), ids
    by_id = dict(zip(ids, records))
    for dialect, status, request_id in sent:
        if not request_id:
            continue
        assert request_id in by_id, f"no usage record for {request_id} ({dialect} {status}):\n" + "\n".join(lines)
        rec = by_id[request_id]
        assert rec.get("dialect") == dialect and rec.get("status") == str(status), (dialect, status, rec)
        assert rec.get("tenant") == "us-apps" and rec.get("key_id") and "model" in rec, rec
    for line in lines:
        assert US_KEY not in line, line
    assert US_KEY not in g.stderr(), "the API key is in the gateway's log"
