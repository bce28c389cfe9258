"""Control-plane realism through boto3: latency, per-(account, region) throttling, control-plane
faults, run-time catalog changes (a model launched in a region, a profile's destinations
changed), reset, and a generated benchmark fleet.

Timing is measured loosely: a delay must be at least what was set, never at most some bound."""

from __future__ import annotations

import subprocess
import time

import pytest
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from simlib import Sim, error_code, find_binary, status_of, text_of, user


@pytest.fixture
def acct(fleet):
    return fleet.accounts[0]


def _fails(fn, code, status):
    with pytest.raises(ClientError) as e:
        fn()
    assert error_code(e.value) == code, e.value.response["Error"]
    assert status_of(e.value) == status
    assert e.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    return e.value


def _timed(fn):
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def _set_control_plane(sim, **spec):
    r = sim.post("/_sim/control-plane", spec)
    assert r.status_code == 200, r.text
    return r.json()


def _regions_with_models(fleet, account):
    return [r for r in fleet.account_regions(account) if any(r in m["hosted_in"] for m in fleet.models)]


# ---- latency and throttling -----------------------------------------------------------------


def test_control_plane_latency_is_observed_and_reset_restores_it(sim, fleet, bedrock, acct):
    region = _regions_with_models(fleet, acct)[0]
    assert sim.get("/_sim/control-plane").json() == {"latency_ms": 0, "jitter": 0.0}
    _set_control_plane(sim, latency_ms=300)
    assert sim.get("/_sim/control-plane").json()["latency_ms"] == 300
    client = bedrock(acct, region)
    assert _timed(client.list_foundation_models) >= 0.3
    assert _timed(lambda: client.list_inference_profiles(typeEquals="SYSTEM_DEFINED")) >= 0.3
    # the runtime is not slowed by control-plane latency (the session sim runs --zero-latency)
    sim.reset()
    assert sim.get("/_sim/control-plane").json() == {"latency_ms": 0, "jitter": 0.0}


def test_throttling_is_per_account_and_region_with_aws_shape(sim, fleet, bedrock, acct):
    regions = _regions_with_models(fleet, acct)
    assert len(regions) >= 2
    # 2 calls at once, then one every 10 s: the third call in a row is throttled
    _set_control_plane(sim, rps=0.1, burst=2)
    client = bedrock(acct, regions[0])
    client.list_foundation_models()
    client.list_foundation_models()
    err = _fails(client.list_foundation_models, "ThrottlingException", 429)
    assert err.response["Error"]["Message"] == "Rate exceeded"
    assert err.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].startswith("ThrottlingException")
    # every operation shares the bucket
    _fails(lambda: client.list_inference_profiles(typeEquals="SYSTEM_DEFINED"), "ThrottlingException", 429)
    # another region of the same account, and another account, have their own buckets
    bedrock(acct, regions[1]).list_foundation_models()
    other = next(a for a in fleet.accounts[1:] if regions[0] in fleet.account_regions(a))
    bedrock(other, regions[0]).list_foundation_models()
    rows = [r for r in sim.stats()["control_plane"] if r["status"] == 429]
    assert sum(r["count"] for r in rows) == 2
    # changing the settings refills the buckets
    _set_control_plane(sim, rps=0.1, burst=1)
    client.list_foundation_models()
    _fails(client.list_foundation_models, "ThrottlingException", 429)


def test_control_plane_settings_are_checked(sim):
    for bad in [{"jitter": 2}, {"rps": 0}, {"burst": 3}, {"rps": 1, "burst": 0}, {"latency": 5}]:
        r = sim.post("/_sim/control-plane", bad)
        assert r.status_code == 400, (bad, r.text)
    assert sim.get("/_sim/control-plane").json() == {"latency_ms": 0, "jitter": 0.0}


# ---- faults on the control plane ------------------------------------------------------------


def test_control_plane_outage_leaves_the_runtime_alone(sim, fleet, bedrock, runtime, acct):
    call = fleet.in_region_calls(acct)[0]
    sim.add_fault(kind="outage", region=call.region, plane="control")
    _fails(bedrock(acct, call.region).list_foundation_models, "ServiceUnavailableException", 503)
    _fails(lambda: bedrock(acct, call.region).get_foundation_model_availability(modelId=call.model_id),
           "ServiceUnavailableException", 503)
    assert text_of(runtime(acct, call.region).converse(modelId=call.model_id, messages=[user("hi")]))
    other = next(r for r in _regions_with_models(fleet, acct) if r != call.region)
    bedrock(acct, other).list_foundation_models()


def test_runtime_outage_leaves_the_control_plane_alone(sim, fleet, bedrock, runtime, acct):
    call = fleet.in_region_calls(acct)[0]
    sim.add_fault(kind="outage", region=call.region)
    assert bedrock(acct, call.region).list_foundation_models()["modelSummaries"]
    _fails(lambda: runtime(acct, call.region).converse(modelId=call.model_id, messages=[user("hi")]),
           "ServiceUnavailableException", 503)


def test_outage_on_any_plane_and_drop_mode(sim, fleet, bedrock, runtime, acct):
    call = fleet.in_region_calls(acct)[0]
    fid = sim.add_fault(kind="outage", region=call.region, plane="any")
    _fails(bedrock(acct, call.region).list_foundation_models, "ServiceUnavailableException", 503)
    _fails(lambda: runtime(acct, call.region).converse(modelId=call.model_id, messages=[user("hi")]),
           "ServiceUnavailableException", 503)
    sim.delete(f"/_sim/faults/{fid}")
    sim.add_fault(kind="outage", region=call.region, plane="control", mode="drop")
    client = sim.client("bedrock", acct, call.region, read_timeout=10)
    with pytest.raises((HTTPClientError, BotoConnectionError)):
        client.list_foundation_models()
    assert sim.get("/_sim/health").status_code == 200


def test_control_plane_throttle_error_rate_and_latency_faults(sim, fleet, bedrock, acct):
    region = _regions_with_models(fleet, acct)[0]
    client = bedrock(acct, region)
    sim.add_fault(kind="throttle", plane="control", region=region, count=1)
    err = _fails(client.list_foundation_models, "ThrottlingException", 429)
    assert err.response["Error"]["Message"] == "Rate exceeded"
    client.list_foundation_models()  # count=1: expired

    sim.add_fault(kind="error_rate", plane="control", error="InternalServerException", account=acct["name"], count=1)
    _fails(lambda: client.list_inference_profiles(typeEquals="SYSTEM_DEFINED"), "InternalServerException", 500)
    client.list_inference_profiles(typeEquals="SYSTEM_DEFINED")

    sim.add_fault(kind="latency", plane="control", added_ms=300, count=1)
    assert _timed(client.list_foundation_models) >= 0.3


def test_model_scoped_control_fault_hits_availability_not_lists(sim, fleet, bedrock, acct):
    call = fleet.in_region_calls(acct)[0]
    other = next(m for m in fleet.models if m["id"] != call.model_id and call.region in m["hosted_in"])
    client = bedrock(acct, call.region)
    sim.add_fault(kind="error_rate", plane="control", model=call.model_id, error="ServiceUnavailableException")
    _fails(lambda: client.get_foundation_model_availability(modelId=call.model_id),
           "ServiceUnavailableException", 503)
    assert client.get_foundation_model_availability(modelId=other["id"])["regionAvailability"] == "AVAILABLE"
    assert client.list_foundation_models()["modelSummaries"]


def test_plane_is_refused_for_kinds_without_one(sim):
    r = sim.post("/_sim/faults", {"kind": "revoke_access", "plane": "control"})
    assert r.status_code == 400, r.text
    r = sim.post("/_sim/faults", {"kind": "outage", "plane": "sideways"})
    assert r.status_code == 400, r.text


# ---- catalog changes ------------------------------------------------------------------------


def _unhosted_pair(fleet, acct):
    """(model, region): a text model not hosted in a region the account has enabled."""
    for m in fleet.models:
        if "TEXT" not in m["output_modalities"]:
            continue
        for r in fleet.account_regions(acct):
            if r not in m["hosted_in"] and fleet.granted(acct, m["id"], r):
                return m, r
    pytest.skip("every model is hosted in every region")


def _listed(bedrock, acct, region):
    return {s["modelId"]: s for s in bedrock(acct, region).list_foundation_models()["modelSummaries"]}


def test_model_launch_is_listed_invocable_and_reset_withdraws_it(sim, fleet, bedrock, runtime, acct):
    model, region = _unhosted_pair(fleet, acct)
    assert model["id"] not in _listed(bedrock, acct, region)
    _fails(lambda: runtime(acct, region).converse(modelId=model["id"], messages=[user("hi")]),
           "ValidationException", 400)

    r = sim.post("/_sim/catalog/models", {"model": model["id"], "region": region, "on_demand": True, "listed": True})
    assert r.status_code == 200, r.text
    assert region in r.json()["model"]["hosted_in"]

    summary = _listed(bedrock, acct, region)[model["id"]]
    assert summary["inferenceTypesSupported"] == ["ON_DEMAND"]
    assert summary["modelArn"] == fleet.fm_arn(model["id"], region)
    avail = bedrock(acct, region).get_foundation_model_availability(modelId=model["id"])
    assert avail["authorizationStatus"] == "AUTHORIZED"
    assert text_of(runtime(acct, region).converse(modelId=model["id"], messages=[user("hi")]))
    assert sim.invocations(region=region, foundation_model=model["id"], status=200)
    shown = next(m for m in sim.get("/_sim/fleet").json()["models"] if m["id"] == model["id"])
    assert region in shown["on_demand_in"]

    # profile-only there: listed as INFERENCE_PROFILE, the plain ID refused
    r = sim.post("/_sim/catalog/models", {"model": model["id"], "region": region, "on_demand": False})
    assert r.status_code == 200, r.text
    assert _listed(bedrock, acct, region)[model["id"]]["inferenceTypesSupported"] == ["INFERENCE_PROFILE"]
    _fails(lambda: runtime(acct, region).converse(modelId=model["id"], messages=[user("hi")]),
           "ValidationException", 400)

    sim.reset()
    assert model["id"] not in _listed(bedrock, acct, region)
    shown = next(m for m in sim.get("/_sim/fleet").json()["models"] if m["id"] == model["id"])
    assert shown == model


def test_model_withdrawal(sim, fleet, bedrock, runtime, acct):
    # a model on demand in a region that no profile sends requests to
    routed = {(p["model"], d) for p in fleet.profiles for d in p["destinations"]}
    call = next((c for c in fleet.in_region_calls(acct) if (c.model_id, c.region) not in routed), None)
    if call is None:
        pytest.skip("every on-demand model region is also a profile destination")
    r = sim.post("/_sim/catalog/models", {"model": call.model_id, "region": call.region, "listed": False})
    assert r.status_code == 200, r.text
    assert call.model_id not in _listed(bedrock, acct, call.region)
    _fails(lambda: runtime(acct, call.region).converse(modelId=call.model_id, messages=[user("hi")]),
           "ValidationException", 400)


def test_catalog_changes_that_break_the_fleet_are_refused(sim, fleet):
    p = fleet.profiles[0]
    before = sim.get("/_sim/fleet").json()
    for path, body in [
        ("/_sim/catalog/models", {"model": "nope.model-v1:0", "region": fleet.regions[0]}),
        ("/_sim/catalog/models", {"model": p["model"], "region": "mars-north-1"}),
        ("/_sim/catalog/models", {"model": p["model"], "region": p["destinations"][0], "listed": False}),
        ("/_sim/catalog/models", {"model": p["model"], "region": fleet.regions[0], "shiny": True}),
        ("/_sim/catalog/profiles", {"id": p["id"], "destinations": []}),
        ("/_sim/catalog/profiles", {"id": "us.nope-v1:0", "destinations": p["destinations"]}),
    ]:
        r = sim.post(path, body)
        assert r.status_code == 400, (path, body, r.text)
        assert r.json()["message"]
    assert sim.get("/_sim/fleet").json() == before


def test_profile_destination_change_is_listed_and_routed(sim, fleet, bedrock, runtime, acct):
    p = next(
        (p for p in fleet.profiles
         if len(p["destinations"]) >= 2
         and all(fleet.granted(acct, p["model"], d) for d in p["destinations"])
         and any(s in fleet.account_regions(acct) for s in p["sources"])),
        None,
    )
    if p is None:
        pytest.skip("no multi-destination profile the account may use")
    source = next(s for s in p["sources"] if s in fleet.account_regions(acct))
    keep = p["destinations"][-1]

    def listed_models():
        pages = bedrock(acct, source).get_paginator("list_inference_profiles").paginate(typeEquals="SYSTEM_DEFINED")
        got = {s["inferenceProfileId"]: s for page in pages for s in page["inferenceProfileSummaries"]}
        return [m["modelArn"] for m in got[p["id"]]["models"]]

    assert len(listed_models()) == len(p["destinations"])
    r = sim.post("/_sim/catalog/profiles", {"id": p["id"], "destinations": [keep]})
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["sources"] == p["sources"]
    assert listed_models() == [fleet.fm_arn(p["model"], keep)]
    got = bedrock(acct, source).get_inference_profile(inferenceProfileIdentifier=p["id"])
    assert [m["modelArn"] for m in got["models"]] == [fleet.fm_arn(p["model"], keep)]
    for _ in range(4):
        runtime(acct, source).converse(modelId=p["id"], messages=[user("where do I run")])
    rows = sim.invocations(model=p["id"], status=200)
    assert rows and {r["region"] for r in rows} == {keep}

    sim.reset()
    assert len(listed_models()) == len(p["destinations"])


def test_profile_sources_change(sim, fleet, bedrock, acct):
    p = next((p for p in fleet.profiles if len(p["sources"]) >= 2), None)
    if p is None:
        pytest.skip("no profile with two source regions")
    keep, dropped = p["sources"][0], p["sources"][1]
    r = sim.post("/_sim/catalog/profiles", {"id": p["id"], "destinations": p["destinations"], "sources": [keep]})
    assert r.status_code == 200, r.text
    ids = lambda region: {  # noqa: E731
        s["inferenceProfileId"]
        for s in bedrock(acct, region).list_inference_profiles(typeEquals="SYSTEM_DEFINED", maxResults=1000)[
            "inferenceProfileSummaries"]
    }
    assert p["id"] in ids(keep)
    assert p["id"] not in ids(dropped)


# ---- generated fleet ------------------------------------------------------------------------


def test_generated_fleet_starts_with_every_account(tmp_path):
    binary = find_binary()
    out = subprocess.run(
        [str(binary), "sim", "--generate-fleet", "accounts=30,regions=17,cp_latency_ms=150", "--seed", "7"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    path = tmp_path / "generated.yaml"
    path.write_text(out.stdout)
    again = subprocess.run(
        [str(binary), "sim", "--generate-fleet", "accounts=30,regions=17,cp_latency_ms=150", "--seed", "7"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    assert again.stdout == out.stdout, "generation is deterministic"

    started = time.monotonic()
    gen = Sim(binary, fleet_file=path, log_dir=tmp_path)
    try:
        assert time.monotonic() - started < 20
        hub = next(a for a in gen.fleet.accounts if a["id"] == "999999999999")
        workers = [a for a in gen.fleet.accounts if a is not hub]
        assert len(workers) == 30
        assert len({a["id"] for a in workers}) == 30
        assert len({a["access_key_id"] for a in gen.fleet.accounts}) == 31
        assert len(gen.fleet.regions) == 17
        assert gen.get("/_sim/control-plane").json()["latency_ms"] == 150

        # the hub assumes a workload account's role and discovers models there
        target = workers[-1]
        creds = gen.client("sts", hub).assume_role(
            RoleArn=f"arn:aws:iam::{target['id']}:role/StrataGateway", RoleSessionName="bench"
        )["Credentials"]
        region = gen.fleet.regions[-1]
        bedrock = gen.client("bedrock", region=region, access_key_id=creds["AccessKeyId"],
                             secret_access_key=creds["SecretAccessKey"], session_token=creds["SessionToken"])
        start = time.monotonic()
        models = bedrock.list_foundation_models()["modelSummaries"]
        assert time.monotonic() - start >= 0.15 * 0.99
        expected = {m["id"] for m in gen.fleet.models if region in m["hosted_in"]}
        assert {m["modelId"] for m in models} == expected
    finally:
        gen.stop()


def test_generate_fleet_refuses_a_bad_spec():
    out = subprocess.run(
        [str(find_binary()), "sim", "--generate-fleet", "accounts=30,planets=3"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode != 0
    assert "planets" in out.stderr
