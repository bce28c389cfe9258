"""Control plane (service `bedrock`) through the real boto3 client."""

from __future__ import annotations

import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from simlib import error_code


def _hosted(fleet, region):
    return [m for m in fleet.models if region in m["hosted_in"]]


def _regions_with_models(fleet):
    regions = [r for r in fleet.regions if _hosted(fleet, r)]
    assert regions, "the fleet hosts no model anywhere"
    return regions


def test_list_foundation_models_matches_fleet_in_every_region(fleet, bedrock):
    account = fleet.accounts[0]
    for region in fleet.regions:
        resp = bedrock(account, region).list_foundation_models()
        got = {s["modelId"]: s for s in resp["modelSummaries"]}
        expected = {m["id"]: m for m in _hosted(fleet, region)}
        assert set(got) == set(expected), region
        for mid, s in got.items():
            m = expected[mid]
            assert s["modelArn"] == fleet.fm_arn(mid, region)
            assert s["modelName"] == m["name"]
            assert s["providerName"] == m["provider"]
            assert s["inputModalities"] == m["input_modalities"]
            assert s["outputModalities"] == m["output_modalities"]
            assert s["responseStreamingSupported"] == m["streaming"]
            assert s["modelLifecycle"]["status"] == m["lifecycle"]
            want = ["ON_DEMAND"] if region in m["on_demand_in"] else ["INFERENCE_PROFILE"]
            assert s["inferenceTypesSupported"] == want, (mid, region)


def test_list_foundation_models_filters(fleet, bedrock):
    for region in _regions_with_models(fleet):
        client = bedrock(fleet.accounts[0], region)
        everything = client.list_foundation_models()["modelSummaries"]
        hosted = _hosted(fleet, region)

        for provider in sorted({m["provider"] for m in hosted}):
            got = client.list_foundation_models(byProvider=provider)["modelSummaries"]
            assert {s["modelId"] for s in got} == {m["id"] for m in hosted if m["provider"] == provider}
        assert client.list_foundation_models(byProvider="NoSuchProvider")["modelSummaries"] == []

        for modality in ["TEXT", "IMAGE", "EMBEDDING"]:
            got = client.list_foundation_models(byOutputModality=modality)["modelSummaries"]
            assert {s["modelId"] for s in got} == {
                m["id"] for m in hosted if modality in m["output_modalities"]
            }, (region, modality)

        for itype in ["ON_DEMAND", "PROVISIONED"]:
            got = client.list_foundation_models(byInferenceType=itype)["modelSummaries"]
            assert {s["modelId"] for s in got} == {
                s["modelId"] for s in everything if itype in s["inferenceTypesSupported"]
            }, (region, itype)
        on_demand = client.list_foundation_models(byInferenceType="ON_DEMAND")["modelSummaries"]
        assert {s["modelId"] for s in on_demand} == {m["id"] for m in hosted if region in m["on_demand_in"]}


def test_get_foundation_model(fleet, bedrock):
    for m in fleet.models:
        region = m["hosted_in"][0]
        d = bedrock(fleet.accounts[0], region).get_foundation_model(modelIdentifier=m["id"])["modelDetails"]
        assert d["modelId"] == m["id"]
        assert d["modelArn"] == fleet.fm_arn(m["id"], region)
        assert d["modelName"] == m["name"]
        assert d["providerName"] == m["provider"]
        assert d["outputModalities"] == m["output_modalities"]
        assert d["responseStreamingSupported"] == m["streaming"]
        want = ["ON_DEMAND"] if region in m["on_demand_in"] else ["INFERENCE_PROFILE"]
        assert d["inferenceTypesSupported"] == want


def test_get_unknown_foundation_model_is_an_error(fleet, bedrock):
    with pytest.raises(ClientError) as e:
        bedrock(fleet.accounts[0], fleet.regions[0]).get_foundation_model(
            modelIdentifier="acme.no-such-model-v9:0"
        )
    assert error_code(e.value) in ("ResourceNotFoundException", "ValidationException")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 404)


def _source_profiles(fleet, region):
    return [p for p in fleet.profiles if region in p["sources"]]


def test_list_inference_profiles_matches_fleet(fleet, bedrock):
    account = fleet.accounts[0]
    for region in fleet.regions:
        resp = bedrock(account, region).list_inference_profiles(typeEquals="SYSTEM_DEFINED")
        got = {s["inferenceProfileId"]: s for s in resp["inferenceProfileSummaries"]}
        expected = {p["id"]: p for p in _source_profiles(fleet, region)}
        assert set(got) == set(expected), region
        assert "nextToken" not in resp
        for pid, s in got.items():
            p = expected[pid]
            assert s["inferenceProfileArn"] == fleet.profile_arn(pid, region, account)
            assert s["inferenceProfileName"] == p["name"]
            assert s["type"] == "SYSTEM_DEFINED"
            assert s["status"] == "ACTIVE"
            arns = [x["modelArn"] for x in s["models"]]
            # one foundation-model ARN per destination region
            assert len(arns) == len(p["destinations"])
            assert sorted(arns) == sorted(fleet.fm_arn(p["model"], d) for d in p["destinations"])


def test_list_inference_profiles_pagination(fleet, bedrock):
    region = max(fleet.regions, key=lambda r: len(_source_profiles(fleet, r)))
    n = len(_source_profiles(fleet, region))
    assert n >= 1, "no region is a source of any profile"
    client = bedrock(fleet.accounts[0], region)
    full = client.list_inference_profiles(typeEquals="SYSTEM_DEFINED")["inferenceProfileSummaries"]
    assert len(full) == n

    for page_size in range(1, n + 2):
        collected, token, pages = [], None, 0
        while True:
            kw = {"typeEquals": "SYSTEM_DEFINED", "maxResults": page_size}
            if token:
                kw["nextToken"] = token
            page = client.list_inference_profiles(**kw)
            items = page["inferenceProfileSummaries"]
            assert len(items) <= page_size
            collected += items
            pages += 1
            token = page.get("nextToken")
            if not token:
                break
            assert items, "a page with a nextToken must not be empty"
            assert pages <= n + 1, "pagination does not terminate"
        assert collected == full, page_size
        want = -(-n // page_size)  # ceil
        assert pages in (want, want + 1), (page_size, pages)

    pages = list(
        client.get_paginator("list_inference_profiles").paginate(
            typeEquals="SYSTEM_DEFINED", PaginationConfig={"PageSize": 1}
        )
    )
    assert len(pages) >= n
    assert [s for p in pages for s in p["inferenceProfileSummaries"]] == full


def test_get_inference_profile_by_id_and_arn(fleet, bedrock):
    account = fleet.accounts[0]
    for p in fleet.profiles:
        region = p["sources"][0]
        client = bedrock(account, region)
        listed = {
            s["inferenceProfileId"]: s
            for s in client.list_inference_profiles(typeEquals="SYSTEM_DEFINED")["inferenceProfileSummaries"]
        }[p["id"]]
        by_id = client.get_inference_profile(inferenceProfileIdentifier=p["id"])
        by_arn = client.get_inference_profile(
            inferenceProfileIdentifier=fleet.profile_arn(p["id"], region, account)
        )
        for got in (by_id, by_arn):
            got.pop("ResponseMetadata")
            assert got == listed


def test_get_unknown_inference_profile_is_an_error(fleet, bedrock):
    with pytest.raises(ClientError) as e:
        bedrock(fleet.accounts[0], fleet.regions[0]).get_inference_profile(
            inferenceProfileIdentifier="us.acme.no-such-model-v9:0"
        )
    assert error_code(e.value) in ("ResourceNotFoundException", "ValidationException")


def test_availability_authorized_for_granted_model(fleet, bedrock):
    checked = 0
    for a in fleet.accounts:
        for m in fleet.models:
            for r in m["hosted_in"]:
                if fleet.granted(a, m["id"], r):
                    got = bedrock(a, r).get_foundation_model_availability(modelId=m["id"])
                    assert got["modelId"] == m["id"]
                    assert got["authorizationStatus"] == "AUTHORIZED", (a["name"], m["id"], r)
                    assert got["regionAvailability"] == "AVAILABLE"
                    assert got["entitlementAvailability"] in ("AVAILABLE", "NOT_AVAILABLE")
                    assert "status" in got["agreementAvailability"]
                    checked += 1
                    break
    assert checked > 0


def test_availability_not_authorized_for_denied_model(fleet, bedrock):
    denied = [
        (a, d["model"], d["region"])
        for a in fleet.accounts
        for d in a.get("denied", [])
        if d["model"] != "*" and d["region"] != "*"
    ]
    if not denied:
        pytest.skip("the fleet denies no (model, region) to any account")
    for a, mid, region in denied:
        got = bedrock(a, region).get_foundation_model_availability(modelId=mid)
        assert got["authorizationStatus"] == "NOT_AUTHORIZED", (a["name"], mid, region)
        # the same model in the same region is authorized for an account not denied it
        other = next((o for o in fleet.accounts if fleet.granted(o, mid, region)), None)
        if other is not None:
            ok = bedrock(other, region).get_foundation_model_availability(modelId=mid)
            assert ok["authorizationStatus"] == "AUTHORIZED"


def test_control_plane_calls_are_counted(sim, fleet, bedrock):
    a = fleet.accounts[1 % len(fleet.accounts)]
    region = _regions_with_models(fleet)[0]
    bedrock(a, region).list_foundation_models()
    bedrock(a, region).list_foundation_models()
    rows = [
        r for r in sim.stats()["control_plane"]
        if r["account"] == a["id"] and r["region"] == region and r["operation"] == "ListFoundationModels"
    ]
    assert len(rows) == 1 and rows[0]["count"] == 2 and rows[0]["status"] == 200


def test_print_fleet_matches_admin_fleet(sim):
    out = subprocess.run([str(sim.binary), "sim", "--print-fleet"], capture_output=True, timeout=30, check=True)
    assert json.loads(out.stdout) == sim.get("/_sim/fleet").json()


def test_ready_line_and_health(sim):
    logged = sim.stdout_path.read_text(errors="replace") + sim.stderr()
    assert f"strata sim listening on http://127.0.0.1:{sim.port}" in logged
    assert sim.get("/_sim/health").json() == {"status": "ok"}
