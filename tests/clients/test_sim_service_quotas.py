"""The emulator's Service Quotas API (service code `bedrock`) through boto3's `service-quotas`
client: every page, one quota by code, errors, and values that are exactly what the runtime
enforces, before and after a run-time change through /_sim/quotas. Expected quotas are worked
out from the fleet JSON with the documented naming rules (docs/emulator.md), never hard-coded."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from simlib import error_code, text_of, user

REGION = "us-east-1"
NAME = re.compile(
    r"^(On-demand|Cross-Region|Global cross-Region) InvokeModel (requests|tokens) per minute for (.+)$"
)


@pytest.fixture
def acct(fleet):
    return fleet.accounts[0]


@pytest.fixture
def sq(sim, acct):
    def make(account=None, region=REGION):
        return sim.client("service-quotas", account or acct, region)

    return make


def display_name(model: dict) -> str:
    first = model["provider"].split(" ")[0]
    if model["name"] == first or model["name"].startswith(first + " "):
        return model["name"]
    return f"{model['provider']} {model['name']}"


def expected_subjects(fleet, region: str) -> dict[tuple[str, str], str]:
    """(kind, display name) → the model or profile ID whose bucket the quota is about."""
    out = {}
    for m in fleet.models:
        if region in m["on_demand_in"]:
            out[("On-demand", display_name(m))] = m["id"]
    for p in fleet.profiles:
        if region in p["sources"]:
            kind = "Global cross-Region" if p["id"].startswith("global.") else "Cross-Region"
            key = (kind, display_name(fleet.model(p["model"])))
            assert key not in out, f"the built-in fleet has two {key}: the test needs the ID rule"
            out[key] = p["id"]
    return out


def subject_of(fleet, region: str, name: str) -> tuple[str, str, str]:
    """(model or profile ID, 'requests'|'tokens', kind) for a quota name, as a client maps it."""
    m = NAME.match(name)
    assert m, name
    kind, measure, display = m.groups()
    return expected_subjects(fleet, region)[(kind, display)], measure, kind


def enforced(fleet, account: dict, region: str, subject: str) -> dict:
    """What the fleet file says the runtime enforces (the last matching account rule wins)."""
    for rule in reversed(account.get("quotas", [])):
        if rule["model"] in ("*", subject) and rule["region"] in ("*", region):
            return {"rpm": rule["rpm"], "tpm": rule["tpm"]}
    defaults = fleet.raw["quotas"]
    on_demand = any(m["id"] == subject for m in fleet.models)
    return dict(defaults["on_demand"] if on_demand else defaults["cross_region"])


def all_quotas(client, **kw) -> list[dict]:
    pages = client.get_paginator("list_service_quotas").paginate(ServiceCode="bedrock", **kw)
    return [q for page in pages for q in page["Quotas"]]


def test_pages_add_up_to_one_big_page_without_duplicates(sq):
    big = sq().list_service_quotas(ServiceCode="bedrock", MaxResults=100)
    quotas = big["Quotas"]
    token = big.get("NextToken")
    while token:
        page = sq().list_service_quotas(ServiceCode="bedrock", MaxResults=100, NextToken=token)
        quotas += page["Quotas"]
        token = page.get("NextToken")
    small_pages = list(
        sq().get_paginator("list_service_quotas").paginate(
            ServiceCode="bedrock", PaginationConfig={"PageSize": 7}
        )
    )
    assert len(small_pages) > 1, "a page of 7 must not hold every quota"
    assert all(len(p["Quotas"]) <= 7 for p in small_pages)
    assert all("NextToken" in p for p in small_pages[:-1]) and "NextToken" not in small_pages[-1]
    small = [q for p in small_pages for q in p["Quotas"]]
    codes = [q["QuotaCode"] for q in small]
    assert len(codes) == len(set(codes)), "a quota listed twice"
    assert small == quotas


def test_every_on_demand_model_and_callable_profile_has_two_quotas(sim, fleet, acct, sq):
    quotas = all_quotas(sq())
    subjects = expected_subjects(fleet, REGION)
    assert len(quotas) == 2 * len(subjects)
    seen = set()
    for q in quotas:
        subject, measure, kind = subject_of(fleet, REGION, q["QuotaName"])
        seen.add((subject, measure))
        assert re.fullmatch(r"L-[0-9A-F]{8}", q["QuotaCode"]), q
        assert q["QuotaArn"] == f"arn:aws:servicequotas:{REGION}:{acct['id']}:bedrock/{q['QuotaCode']}"
        assert q["ServiceCode"] == "bedrock" and q["ServiceName"] == "Amazon Bedrock"
        assert q["Unit"] == "None" and q["Adjustable"] is True and q["GlobalQuota"] is False
        assert isinstance(q["Value"], float)
        limit = enforced(fleet, acct, REGION, subject)
        assert q["Value"] == float(limit["rpm" if measure == "requests" else "tpm"]), q
    assert len(seen) == len(quotas)
    # Codes are the same in another region and for another account (derived from the name).
    other = next((a for a in fleet.accounts if a["id"] != acct["id"]), acct)
    other_region = next(r for r in fleet.regions if r != REGION)
    elsewhere = {q["QuotaName"]: q["QuotaCode"] for q in all_quotas(sq(other, other_region))}
    here = {q["QuotaName"]: q["QuotaCode"] for q in quotas}
    common = set(elsewhere) & set(here)
    assert common and all(elsewhere[n] == here[n] for n in common)


def test_get_one_by_code(sq):
    quotas = all_quotas(sq())
    for q in (quotas[0], quotas[-1]):
        got = sq().get_service_quota(ServiceCode="bedrock", QuotaCode=q["QuotaCode"])["Quota"]
        assert got == q


def test_unknown_service_quota_and_token_are_errors(sq):
    client = sq()
    known = {q["QuotaCode"] for q in all_quotas(client)}
    missing = next(c for c in ("L-00000000", "L-FFFFFFFF", "L-12345678") if c not in known)
    with pytest.raises(ClientError) as e:
        client.get_service_quota(ServiceCode="bedrock", QuotaCode=missing)
    assert error_code(e.value) == "NoSuchResourceException"
    assert isinstance(e.value, client.exceptions.NoSuchResourceException)
    for call in (
        lambda: client.list_service_quotas(ServiceCode="ec2"),
        lambda: client.get_service_quota(ServiceCode="ec2", QuotaCode=next(iter(known))),
    ):
        with pytest.raises(client.exceptions.NoSuchResourceException):
            call()
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        client.list_service_quotas(ServiceCode="bedrock", NextToken="bm90LWEtdG9rZW4=")
    # A token from another account's list is not good here.
    first = client.list_service_quotas(ServiceCode="bedrock", MaxResults=2)
    assert "NextToken" in first
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        sq(region="us-west-2").list_service_quotas(ServiceCode="bedrock", NextToken=first["NextToken"])


def test_a_quota_set_at_run_time_is_what_is_listed_and_enforced(sim, fleet, acct, sq, runtime):
    call = next((c for c in fleet.in_region_calls(acct) if c.region == REGION), None)
    if call is None:
        pytest.skip(f"no on-demand text model for the first account in {REGION}")
    r = sim.post("/_sim/quotas", {"account": acct["id"], "region": REGION, "model": call.model_id,
                                  "rpm": 3, "tpm": 1_000_000})
    assert r.status_code == 200, r.text
    changed = {q["measure"]: q for q in r.json()["quotas"]}
    assert set(changed) == {"requests", "tokens"}
    rpm = sq().get_service_quota(ServiceCode="bedrock", QuotaCode=changed["requests"]["code"])["Quota"]
    assert rpm["Value"] == 3.0
    assert subject_of(fleet, REGION, rpm["QuotaName"])[:2] == (call.model_id, "requests")
    tpm = sq().get_service_quota(ServiceCode="bedrock", QuotaCode=changed["tokens"]["code"])["Quota"]
    assert tpm["Value"] == 1_000_000.0
    rt = runtime(acct, REGION)
    for i in range(3):
        assert text_of(rt.converse(modelId=call.model_id, messages=[user(f"call {i}")],
                                   inferenceConfig={"maxTokens": 3}))
    with pytest.raises(ClientError) as e:
        rt.converse(modelId=call.model_id, messages=[user("fourth")], inferenceConfig={"maxTokens": 3})
    assert error_code(e.value) == "ThrottlingException"
    # Raised again: seen at once, and the runtime admits at once.
    sim.set_quota(account=acct["id"], region=REGION, model=call.model_id, rpm=50, tpm=1_000_000)
    rpm = sq().get_service_quota(ServiceCode="bedrock", QuotaCode=changed["requests"]["code"])["Quota"]
    assert rpm["Value"] == 50.0
    assert text_of(rt.converse(modelId=call.model_id, messages=[user("after")], inferenceConfig={"maxTokens": 3}))
    # Another account's quota is its own.
    other = next((a for a in fleet.accounts if a["id"] != acct["id"]), None)
    if other is not None:
        theirs = {q["QuotaCode"]: q for q in all_quotas(sq(other))}
        if rpm["QuotaCode"] in theirs:
            assert theirs[rpm["QuotaCode"]]["Value"] == float(enforced(fleet, other, REGION, call.model_id)["rpm"])


def test_a_profile_quota_is_the_cross_region_one(sim, fleet, acct, sq):
    call = next((c for c in fleet.profile_calls(acct) if c.region == REGION), None)
    if call is None:
        pytest.skip(f"no profile callable from {REGION}")
    before = {q["QuotaName"]: q["Value"] for q in all_quotas(sq())}
    sim.set_quota(account=acct["id"], region=REGION, model=call.model_id, rpm=11, tpm=2222)
    after = {q["QuotaName"]: q["Value"] for q in all_quotas(sq())}
    changed = {n for n in after if after[n] != before[n]}
    assert {subject_of(fleet, REGION, n)[0] for n in changed} == {call.model_id}
    assert sorted(after[n] for n in changed) == [11.0, 2222.0]
    assert all(not n.startswith("On-demand") for n in changed)
    listed = sim.get(f"/_sim/quotas?account={acct['name']}&region={REGION}").json()["quotas"]
    assert len(listed) == 1 and listed[0]["region"] == REGION
    ours = [q for q in listed[0]["quotas"] if q["subject"] == call.model_id]
    assert {q["value"] for q in ours} == {11, 2222}
    sim.reset()
    assert {q["QuotaName"]: q["Value"] for q in all_quotas(sq())} == before


def test_aws_defaults_are_the_fleet_defaults(fleet, acct, sq):
    client = sq()
    defaults = [q for p in client.get_paginator("list_aws_default_service_quotas").paginate(ServiceCode="bedrock")
                for q in p["Quotas"]]
    applied = all_quotas(client)
    assert [q["QuotaCode"] for q in defaults] == [q["QuotaCode"] for q in applied]
    fd = fleet.raw["quotas"]
    for q in defaults:
        assert q["QuotaArn"] == f"arn:aws:servicequotas:{REGION}::bedrock/{q['QuotaCode']}"
        kind = "on_demand" if q["QuotaName"].startswith("On-demand") else "cross_region"
        key = "rpm" if " requests " in q["QuotaName"] else "tpm"
        assert q["Value"] == float(fd[kind][key]), q


def test_identity_and_control_plane_faults_apply(sim, fleet, acct, sq):
    # Wrong secret: refused in this API's error shape.
    bad = sim.client("service-quotas", acct, REGION, secret_access_key="not-the-secret")
    with pytest.raises(ClientError) as e:
        bad.list_service_quotas(ServiceCode="bedrock")
    assert error_code(e.value) == "InvalidSignatureException"
    # Signed for another service.
    r = sim.signed("POST", "/", account=acct, service="bedrock", body="{\"ServiceCode\":\"bedrock\"}",
                   headers={"X-Amz-Target": "ServiceQuotasV20190624.ListServiceQuotas",
                            "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code == 403 and r.json()["__type"] == "InvalidSignatureException", r.text
    # A control-plane throttle fault for the account throttles Service Quotas too.
    sim.add_fault(kind="throttle", plane="control", account=acct["name"], region=REGION)
    with pytest.raises(ClientError) as e:
        sq().list_service_quotas(ServiceCode="bedrock")
    assert error_code(e.value) == "TooManyRequestsException"
    rows = [r for r in sim.stats()["control_plane"]
            if r["operation"] == "ListServiceQuotas" and r["account"] == acct["id"]]
    assert {r["status"] for r in rows} >= {429}, rows
