"""Cross-region inference placement in the emulator: a profile's calls spread over its
destinations weighted by each region's capacity (skewed, as AWS's are), and the spread moves
off a region that is down or throttled. Counts over many calls with wide tolerances; every call
is counted once in /_sim/stats with the region that ran it."""

from __future__ import annotations

from collections import Counter

import pytest

from simlib import text_of, user

US = {"us-east-1", "us-east-2", "us-west-2"}
CALLS = 200


@pytest.fixture
def acct(fleet):
    return next(a for a in fleet.accounts if a["name"] == "prod-us")


@pytest.fixture
def us_profile(fleet, acct):
    """A US profile over exactly us-east-1, us-east-2, us-west-2, called from us-east-1."""
    call = next((c for c in fleet.profile_calls(acct)
                 if set(c.profile["destinations"]) == US and c.region == "us-east-1"), None)
    if call is None:
        pytest.skip("no US profile over us-east-1, us-east-2 and us-west-2 for prod-us")
    return call


def capacities(sim) -> dict:
    r = sim.get("/_sim/capacity")
    assert r.status_code == 200, r.text
    return r.json()["region_capacity"]


def spread(sim, runtime, acct, call, n=CALLS) -> Counter:
    rt = runtime(acct, call.region)
    for i in range(n):
        assert text_of(rt.converse(modelId=call.model_id, messages=[user(f"spread {i}")],
                                   inferenceConfig={"maxTokens": 3}))
    rows = sim.invocations(account=acct["id"], model=call.model_id, operation="Converse")
    by_region = Counter()
    for r in rows:
        assert r["status"] == 200 and r["source_region"] == call.region
        assert r["region"] in US, r
        by_region[r["region"]] += r["count"]
    assert sum(by_region.values()) == n, by_region
    return by_region


def test_profile_spread_is_skewed_by_capacity(sim, runtime, acct, us_profile):
    cap = capacities(sim)
    total = sum(cap[r] for r in US)
    biggest = max(US, key=lambda r: cap[r])
    assert cap[biggest] > min(cap[r] for r in US), f"built-in capacities are even: {cap}"
    got = spread(sim, runtime, acct, us_profile)
    assert got.most_common(1)[0][0] == biggest, got
    for r in US:
        assert abs(got[r] / CALLS - cap[r] / total) < 0.12, (got, cap)
        assert got[r] > 0, got


def test_outage_moves_traffic_to_the_other_destinations(sim, runtime, acct, us_profile):
    biggest = max(US, key=lambda r: capacities(sim)[r])
    sim.add_fault(kind="outage", region=biggest)
    got = spread(sim, runtime, acct, us_profile, n=100)
    assert got[biggest] == 0, got
    assert all(got[r] > 0 for r in US - {biggest}), got


def test_a_throttled_destination_gets_no_traffic(sim, runtime, acct, us_profile):
    biggest = max(US, key=lambda r: capacities(sim)[r])
    sim.add_fault(kind="throttle", region=biggest)
    got = spread(sim, runtime, acct, us_profile, n=100)  # every call succeeds elsewhere
    assert got[biggest] == 0, got


def test_capacity_knob_changes_the_spread_until_reset(sim, runtime, acct, us_profile):
    before = capacities(sim)
    r = sim.post("/_sim/capacity", {"region_capacity": {"us-east-1": 1000, "us-east-2": 1}})
    assert r.status_code == 200, r.text
    after = r.json()["region_capacity"]
    assert after["us-east-1"] == 1000 and after["us-east-2"] == 1
    assert after["us-west-2"] == before["us-west-2"]
    assert capacities(sim) == after
    got = spread(sim, runtime, acct, us_profile, n=100)
    assert got["us-east-1"] > 80, got
    sim.reset()
    assert capacities(sim) == before


@pytest.mark.parametrize("body", [
    {"region_capacity": {"mars-north-1": 3}},
    {"region_capacity": {"us-east-1": -1}},
    {"region_capacity": {"us-east-1": "lots"}},
    {"region_capacity": {"us-east-1": 10_000_000}},
    {"region_capacity": {"us-east-1": 3}, "extra": 1},
    {"us-east-1": 3},
    [],
])
def test_bad_capacity_change_is_refused_and_changes_nothing(sim, body):
    before = capacities(sim)
    r = sim.post("/_sim/capacity", body)
    assert r.status_code == 400, (body, r.status_code, r.text)
    assert r.json()["message"]
    assert capacities(sim) == before
