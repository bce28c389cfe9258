"""Shared discovery end to end: two `strata serve` replicas on one config with `shared:` (the
real Redis at 127.0.0.1:6379, a namespace of this test's own) in front of one emulator. Only one
replica's worth of control-plane calls reaches the emulator (checked in its own statistics
against the count of one full scan), both replicas route from the discovered catalog, and when
the leader is killed the other replica takes the lock over and scans."""

from __future__ import annotations

import socket
import subprocess
import time
import uuid

import pytest
import requests

from gatewaylib import admin_get, gateways, static_account
from simlib import find_binary

SONNET4 = "anthropic.claude-sonnet-4-20250514-v1:0"
ADMIN = "sk-test-admin-0001"
KEY = "sk-test-any-00001"
REFRESH = 3  # seconds: the lock lives as long, so a dead leader is replaced within it
REDIS = ("127.0.0.1", 6379)


def redis_command(*args: str):
    """One Redis command over a raw socket (RESP); returns the bulk string or integer answer."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection(REDIS, timeout=5) as s:
        s.sendall(payload.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            kind, rest = data[:1], data[1:]
            if b"\r\n" not in rest:
                continue
            head, body = rest.split(b"\r\n", 1)
            if kind == b":":
                return int(head)
            if kind == b"$":
                size = int(head)
                if size < 0:
                    return None
                if len(body) >= size + 2:
                    return body[:size].decode()
            elif kind in (b"+", b"-"):
                return head.decode()
    raise AssertionError(f"no answer from Redis to {args}")


def config(sim, namespace: str) -> str:
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(sim.fleet, "prod-us")}
discovery:
  refresh_seconds: {REFRESH}
  regions: [us-east-1, us-east-2, us-west-1, us-west-2]
  models: [{SONNET4}]
shared:
  redis_url: redis://127.0.0.1:6379
  namespace: {namespace}
models:
  - name: claude
    discover: {{model: {SONNET4}, layers: [geography]}}
tenants:
  - {{name: lab, keys: [{KEY}], residency: [any], route_detail: full}}
admin:
  keys: [{ADMIN}]
routing:
  timeout_ms: 20000
  retries: {{max_attempts: 2, base_delay_ms: 1, max_delay_ms: 20}}
"""


@pytest.fixture
def namespace():
    ns = f"strata-pytest-{uuid.uuid4().hex[:12]}"
    yield ns
    for key in ("leader", "catalog", "report", "version"):
        redis_command("DEL", f"{ns}:discovery:{key}")


@pytest.fixture
def gateway(tmp_path, monkeypatch):
    yield from gateways(tmp_path, monkeypatch, lambda: pytest.fail("every test gives its config"))


def discovery_view(g) -> dict:
    r = admin_get(g, "/admin/catalog", ADMIN)
    assert r.status_code == 200, r.text
    return r.json()["discovery"]


def wait_for(what: str, check, timeout: float = 60.0, gateways=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    logs = "\n".join(g.stderr() for g in gateways)
    raise AssertionError(f"{what}: not within {timeout} s\n{logs}")


def one_scan_count(sim, tmp_path, text: str) -> int:
    """Control-plane calls of one full scan of this config, made by `strata discover`."""
    path = tmp_path / "one-scan.yaml"
    path.write_text(text)
    out = subprocess.run([str(find_binary()), "discover", "--config", str(path), "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count = sim.stats()["totals"]["control_plane"]
    assert count > 0
    sim.reset()
    return count


def control_plane_calls(sim) -> int:
    return sim.stats()["totals"]["control_plane"]


def published_version(namespace: str) -> int:
    return int(redis_command("GET", f"{namespace}:discovery:version") or 0)


def serves_claude(g) -> bool:
    r = g.bedrock(KEY).converse(modelId="claude", messages=[{"role": "user", "content": [{"text": "hi"}]}],
                               inferenceConfig={"maxTokens": 5})
    route = r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"]
    return route.startswith("prod-us/") and SONNET4 in route


def test_one_replica_scans_the_other_follows_and_takes_over(sim, tmp_path, gateway, namespace):
    text = config(sim, namespace)
    per_scan = one_scan_count(sim, tmp_path, text)

    first = gateway(text)
    second = gateway(text)
    both = (first, second)

    def roles():
        views = [discovery_view(g) for g in both]
        if all(v["last_round"] is not None for v in views):
            return [v["role"] for v in views]
        return None

    # Both replicas have a catalog: the leader from its scan, the follower from the leader's
    # publication (no baseline is configured, so answering proves a discovered route).
    found = wait_for("both replicas hold a catalog", roles, gateways=both)
    assert sorted(found) == ["follower", "leader"], found
    for g in both:
        assert serves_claude(g), g.stderr()

    # Every control-plane call the emulator saw belongs to a round the leader published:
    # calls == published versions × one scan's calls (retried while a round is under way).
    def one_replica_worth():
        before = published_version(namespace)
        calls = control_plane_calls(sim)
        after = published_version(namespace)
        return before > 0 and before == after and calls == before * per_scan

    wait_for(f"control-plane calls equal to published rounds × {per_scan}", one_replica_worth, timeout=30,
             gateways=both)

    roles_now = [discovery_view(g)["role"] for g in both]
    leader, follower = (first, second) if roles_now[0] == "leader" else (second, first)
    assert discovery_view(follower)["role"] == "follower"
    assert "this replica follows" in follower.stderr() and "this replica leads" in leader.stderr()

    # The leader dies without releasing its lock; the follower takes over when it expires and
    # scans the control plane itself.
    killed_at = time.time()
    version_at_kill = published_version(namespace)
    calls_at_kill = control_plane_calls(sim)
    leader.stopped_by_test = True
    leader.proc.kill()
    leader.proc.wait(timeout=10)

    wait_for("the follower leads", lambda: discovery_view(follower)["role"] == "leader", gateways=(follower,))
    took_over_after = time.time() - killed_at

    def scanned_again():
        last = discovery_view(follower)["last_round"]
        return (published_version(namespace) > version_at_kill and last["finished_at"] >= int(killed_at)
                and control_plane_calls(sim) > calls_at_kill)

    wait_for("the new leader scans and publishes", scanned_again, gateways=(follower,))
    assert serves_claude(follower)
    # Lock TTL = refresh interval (plus at most one heartbeat and a margin for a loaded machine).
    assert took_over_after < REFRESH + 10, took_over_after


def test_without_redis_each_replica_scans_alone(sim, tmp_path, gateway):
    # Nothing listens on this port: the replica falls back to scanning itself, and says so.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = config(sim, "unused").replace("redis://127.0.0.1:6379", f"redis://127.0.0.1:{port}")
    g = gateway(text)
    wait_for("a local round", lambda: discovery_view(g)["last_round"] is not None, gateways=(g,))
    assert discovery_view(g)["role"] == "fallback"
    assert serves_claude(g)
    assert control_plane_calls(sim) > 0
    assert "Redis is unreachable" in g.stderr()
    assert "strata_discovery_fallbacks_total" in requests.get(g.endpoint + "/metrics", timeout=10).text
