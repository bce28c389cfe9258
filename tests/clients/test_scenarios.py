"""`strata scenario NAME --json`: each seed experiment run as a newcomer would, its JSON checked
against what the pattern promises (the command's own verdict, and the figures themselves)."""

from __future__ import annotations

import json
import subprocess

import pytest

from simlib import find_binary

US_NOVA = {"us-east-1", "us-east-2", "us-west-2"}
SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"
HAIKU = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
NOVA = "us.amazon.nova-pro-v1:0"


def scenario(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(find_binary()), "scenario", *args], capture_output=True, text=True, timeout=120)


def run_json(name: str) -> dict:
    done = scenario(name, "--json")
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    result = json.loads(done.stdout)
    assert result["scenario"] == name and result["passed"] is True and result["problems"] == [], result
    return result


def test_list_names_every_scenario_once():
    done = scenario("list")
    assert done.returncode == 0, done.stderr
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    assert names == ["cris", "fallback", "loadbalance", "quota", "sharding", "residency", "baseline", "capacity",
                     "coldstart"]
    listed = json.loads(scenario("list", "--json").stdout)
    assert [s["name"] for s in listed] == names and all(s["about"] for s in listed)


def test_unknown_scenario_is_a_clear_error():
    done = scenario("no-such-pattern")
    assert done.returncode == 1
    assert "no scenario named" in done.stderr and "cris" in done.stderr


def test_cris_runs_inside_the_profile_destinations():
    r = run_json("cris")
    assert r["total"] == 10 and r["succeeded"] == 10
    assert set(r["destinations"]) == US_NOVA
    assert set(r["by_region"]) <= US_NOVA and sum(r["by_region"].values()) == 10


def test_fallback_three_primary_seven_fallback():
    r = run_json("fallback")
    assert (r["total"], r["succeeded"]) == (10, 10)
    assert r["by_model"] == {SONNET: 3, HAIKU: 7}


def test_loadbalance_three_three_four():
    r = run_json("loadbalance")
    assert (r["total"], r["succeeded"]) == (10, 10)
    assert r["by_model"] == {SONNET: 3, NOVA: 3, HAIKU: 4}


def test_quota_isolates_the_noisy_consumer():
    r = run_json("quota")
    got = {name: (c["total"], c["succeeded"], c["rate_limited"]) for name, c in r["consumers"].items()}
    assert got == {"A": (5, 3, 2), "B": (5, 5, 0), "C": (5, 5, 0)}


def test_sharding_each_account_spreads_on_its_own():
    r = run_json("sharding")
    assert set(r["by_account"]) == {"prod-us", "sandbox"}
    for account in r["by_account"].values():
        assert account["succeeded"] == 10
        assert set(account["by_region"]) <= US_NOVA and sum(account["by_region"].values()) == 10


def test_residency_never_leaves_the_eu():
    r = run_json("residency")
    assert r["violations"] == 0
    assert all(region.startswith("eu-") for region in r["by_region"])
    first, second, third = r["phases"]
    assert first["succeeded"] == 10 and first["by_region"] == {"eu-west-2": 10}
    assert second["succeeded"] == 10 and "eu-west-2" not in second["by_region"]
    assert third["succeeded"] == 0 and third["errors"] and all(e.strip() for e in third["errors"])


def test_baseline_serves_when_every_primary_is_wrong():
    r = run_json("baseline")
    assert (r["total"], r["succeeded"], r["baseline"]) == (10, 10, 10)
    assert r["violations"] == 0 and set(r["by_region"]) == {"us-east-1"}


def test_coldstart_absorbed_and_keep_warm_outlasts_eviction():
    r = run_json("coldstart")
    kept, not_kept = r["models"]["apexguru"], r["models"]["eu-support"]
    for m in (kept, not_kept):
        assert m["cold_start"]["succeeded"] == 5 and m["cold_start"]["cold_start_refusals"] > 0
        assert m["after_idle"]["succeeded"] == 5
    assert kept["keep_warm"] and kept["state_after_idle"] == "warm" and kept["after_idle"]["cold_start_refusals"] == 0
    # Only its 10 requests reached eu-support; keep-warm's own calls reached apexguru.
    assert not_kept["state_after_idle"] == "cold" and not_kept["after_idle"]["cold_start_refusals"] > 0
    assert kept["invocations"] > 10 and not_kept["invocations"] == 10


def test_capacity_headroom_splits_by_quota_and_fails_over_within_quotas():
    r = run_json("capacity")
    quotas = {"prod-us": 60, "prod-eu": 120, "sandbox": 180}
    h, w, f = r["headroom"], r["weighted"], r["failover"]
    assert h["total"] == w["total"] == f["total"] == 288
    assert h["succeeded"] == 288 and h["upstream_throttles"] == 0, h
    for account, quota in quotas.items():
        assert h["by_account"][account] <= quota, h
    a, b, c = (h["by_account"][k] for k in quotas)
    assert a < b < c and 1.5 < b / a < 2.5 and 2.3 < c / a < 3.7, h  # close to 1 : 2 : 3
    assert w["upstream_throttles"] > 0, w  # the contrast: equal weights run into prod-us's quota
    assert f["by_account"]["prod-us"] == 0 and f["over_quota"] == 0, f
    assert f["succeeded"] * 100 >= 99 * f["total"], f
    assert sum(f["by_account"].values()) >= f["succeeded"], f
