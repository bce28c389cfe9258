"""Faults, access changes and quotas driven through the /_sim admin API, observed with boto3."""

from __future__ import annotations

import json

import pytest
import urllib3
from botocore.exceptions import ClientError, EventStreamError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from simlib import error_code, status_of, text_of, user

THROTTLE_MESSAGE = "Too many requests, please wait before trying again."


@pytest.fixture
def acct(fleet):
    return fleet.accounts[0]


@pytest.fixture
def in_region(fleet, acct):
    calls = fleet.in_region_calls(acct)
    if not calls:
        pytest.skip("no on-demand model for the first account")
    return calls[0]


@pytest.fixture
def any_call(fleet, acct):
    return fleet.any_call(acct)


def _converse(runtime, acct, c, text="hello", **kw):
    return runtime(acct, c.region).converse(modelId=c.model_id, messages=[user(text)], **kw)


def _fails(fn, code, status):
    with pytest.raises(ClientError) as e:
        fn()
    assert error_code(e.value) == code, e.value.response["Error"]
    assert status_of(e.value) == status
    return e.value


# ---- faults ---------------------------------------------------------------------------------


def test_throttle_fault(sim, fleet, runtime, acct, any_call):
    sim.add_fault(kind="throttle", account=acct["name"], region=any_call.region)
    err = _fails(lambda: _converse(runtime, acct, any_call), "ThrottlingException", 429)
    assert err.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert err.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"].startswith("ThrottlingException")
    rows = sim.invocations(account=acct["id"], status=429)
    assert rows and rows[0]["error"] == "ThrottlingException"
    # the fault is scoped to the account: another account is not throttled
    other = next((a for a in fleet.accounts[1:] if fleet.any_call(a) is not None), None)
    if other is not None:
        assert text_of(_converse(runtime, other, fleet.any_call(other)))


@pytest.mark.parametrize(
    "error,status",
    [
        ("ServiceUnavailableException", 503),
        ("InternalServerException", 500),
        ("ModelTimeoutException", 408),
        ("ModelNotReadyException", 429),
        ("ModelErrorException", 424),
    ],
)
def test_error_rate_fault(sim, runtime, acct, any_call, error, status):
    sim.add_fault(kind="error_rate", rate=1, error=error, model=any_call.model_id)
    _fails(lambda: _converse(runtime, acct, any_call), error, status)


def test_error_rate_default_is_internal_server_error(sim, runtime, acct, any_call):
    sim.add_fault(kind="error_rate", model=any_call.model_id)
    _fails(lambda: _converse(runtime, acct, any_call), "InternalServerException", 500)


def test_error_rate_zero_never_fails(sim, runtime, acct, any_call):
    sim.add_fault(kind="error_rate", rate=0, error="ServiceUnavailableException")
    for _ in range(5):
        assert text_of(_converse(runtime, acct, any_call))


def test_counted_fault_expires(sim, runtime, acct, any_call):
    fid = sim.add_fault(kind="throttle", count=1)
    assert [f for f in sim.faults() if f.get("id") == fid]
    _fails(lambda: _converse(runtime, acct, any_call), "ThrottlingException", 429)
    assert text_of(_converse(runtime, acct, any_call))
    assert text_of(_converse(runtime, acct, any_call))
    assert not [f for f in sim.faults() if f.get("id") == fid]


def test_delete_fault_by_id_and_all(sim, runtime, acct, any_call):
    f1 = sim.add_fault(kind="throttle")
    f2 = sim.add_fault(kind="error_rate", error="ServiceUnavailableException")
    assert f1 != f2
    assert {f["id"] for f in sim.faults()} == {f1, f2}
    assert sim.delete(f"/_sim/faults/{f1}").status_code in (200, 204)
    assert {f["id"] for f in sim.faults()} == {f2}
    _fails(lambda: _converse(runtime, acct, any_call), "ServiceUnavailableException", 503)
    assert sim.delete("/_sim/faults").status_code in (200, 204)
    assert sim.faults() == []
    assert text_of(_converse(runtime, acct, any_call))
    assert sim.delete("/_sim/faults/f-does-not-exist").status_code == 404


def test_bad_fault_body_is_rejected(sim):
    for body in ({"kind": "meteor"}, {"kind": "error_rate", "error": "NoSuchException"},
                 {"kind": "throttle", "rate": 3}):
        r = sim.post("/_sim/faults", body)
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
    assert sim.faults() == []


def _outage_case(fleet, acct):
    """(in-region call in R, profile call from a source S != R whose destinations include R)."""
    for c in fleet.in_region_calls(acct):
        for p in fleet.profile_calls(acct):
            if (p.profile["model"] == c.model_id and c.region in p.profile["destinations"]
                    and p.region != c.region and len(p.profile["destinations"]) >= 2):
                return c, p
    return None


def test_outage_503_fails_in_region_and_profiles_route_around(sim, fleet, runtime, acct):
    case = _outage_case(fleet, acct)
    if case is None:
        pytest.skip("no on-demand model whose region is also a destination of a profile")
    c, p = case
    sim.add_fault(kind="outage", region=c.region)
    _fails(lambda: _converse(runtime, acct, c), "ServiceUnavailableException", 503)
    for i in range(6):
        assert text_of(_converse(runtime, acct, p, text=f"route {i}"))
    rows = sim.invocations(account=acct["id"], model=p.model_id)
    assert sum(r["count"] for r in rows) == 6
    for r in rows:
        assert r["status"] == 200
        assert r["region"] != c.region
        assert r["region"] in p.profile["destinations"]
        assert r["source_region"] == p.region


def test_outage_on_every_destination_fails_profile_calls(sim, fleet, runtime, acct):
    calls = fleet.profile_calls(acct)
    if not calls:
        pytest.skip("no profile call")
    p = calls[0]
    for d in p.profile["destinations"]:
        sim.add_fault(kind="outage", region=d)
    with pytest.raises(ClientError) as e:
        _converse(runtime, acct, p)
    assert status_of(e.value) >= 500 or error_code(e.value) == "ServiceUnavailableException"


def test_outage_drop_closes_the_connection(sim, runtime, acct, in_region):
    sim.add_fault(kind="outage", region=in_region.region, mode="drop")
    rt = sim.client("bedrock-runtime", acct, in_region.region, read_timeout=10)
    with pytest.raises((HTTPClientError, BotoConnectionError)) as e:
        rt.converse(modelId=in_region.model_id, messages=[user("hello")])
    assert sim.invocations(status=200) == []
    # the emulator itself is fine afterwards
    assert sim.get("/_sim/health").status_code == 200


def _stream_call(fleet, acct):
    c = next((x for x in fleet.in_region_calls(acct) + fleet.profile_calls(acct)
              if x.foundation_model["streaming"]), None)
    if c is None:
        pytest.skip("no streaming model")
    return c


def test_stream_cut_exception_in_converse_stream(sim, fleet, runtime, acct):
    c = _stream_call(fleet, acct)
    full = list(runtime(acct, c.region).converse_stream(modelId=c.model_id, messages=[user("tell me more")])["stream"])
    assert len(full) > 4
    sim.add_fault(kind="stream_cut", after_events=3, model=c.model_id)
    resp = runtime(acct, c.region).converse_stream(modelId=c.model_id, messages=[user("tell me more")])
    got = []
    with pytest.raises(EventStreamError) as e:
        for event in resp["stream"]:
            got.append(event)
    assert error_code(e.value) == "modelStreamErrorException"
    assert len(got) == 3
    assert got == full[:3]


def test_stream_cut_exception_in_invoke_stream(sim, fleet, runtime, acct):
    c = _stream_call(fleet, acct)
    body = _native_body(c.foundation_model["body"])
    sim.add_fault(kind="stream_cut", after_events=2)
    resp = runtime(acct, c.region).invoke_model_with_response_stream(modelId=c.model_id, body=body)
    got = []
    with pytest.raises(EventStreamError) as e:
        for event in resp["body"]:
            got.append(json.loads(event["chunk"]["bytes"]))
    assert error_code(e.value) == "modelStreamErrorException"
    assert len(got) == 2


def test_stream_cut_drop(sim, fleet, runtime, acct):
    c = _stream_call(fleet, acct)
    full = list(runtime(acct, c.region).converse_stream(modelId=c.model_id, messages=[user("again")])["stream"])
    sim.add_fault(kind="stream_cut", after_events=2, mode="drop")
    rt = sim.client("bedrock-runtime", acct, c.region, read_timeout=10)
    resp = rt.converse_stream(modelId=c.model_id, messages=[user("again")])
    got = []
    # a dropped connection, not an in-band error event
    with pytest.raises((HTTPClientError, BotoConnectionError, urllib3.exceptions.HTTPError)):
        for event in resp["stream"]:
            got.append(event)
    assert 0 < len(got) < len(full)
    assert "messageStop" not in [k for ev in got for k in ev]


def _native_body(kind):
    if kind == "anthropic":
        return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 200,
                           "messages": [{"role": "user", "content": "tell me more"}]})
    if kind == "nova":
        return json.dumps({"messages": [user("tell me more")], "inferenceConfig": {"maxTokens": 200}})
    if kind == "llama":
        return json.dumps({"prompt": "tell me more", "max_gen_len": 200})
    return json.dumps({"prompt": "<s>[INST] tell me more [/INST]", "max_tokens": 200})


def test_catalog_lie(sim, fleet, bedrock, runtime, acct, any_call):
    fm = any_call.foundation_model["id"]
    sim.add_fault(kind="catalog_lie", model=fm)
    listed = bedrock(acct, any_call.region).list_foundation_models()["modelSummaries"]
    assert fm in {s["modelId"] for s in listed}
    assert bedrock(acct, any_call.region).get_foundation_model(modelIdentifier=fm)["modelDetails"]["modelId"] == fm
    err = _fails(lambda: _converse(runtime, acct, any_call), "ValidationException", 400)
    assert "The provided model identifier is invalid." in err.response["Error"]["Message"]


def test_revoke_access_fault(sim, fleet, bedrock, runtime, acct, in_region):
    fm = in_region.model_id
    sim.add_fault(kind="revoke_access", account=acct["id"], region=in_region.region, model=fm)
    avail = bedrock(acct, in_region.region).get_foundation_model_availability(modelId=fm)
    assert avail["authorizationStatus"] == "NOT_AUTHORIZED"
    _fails(lambda: _converse(runtime, acct, in_region), "AccessDeniedException", 403)
    # other accounts keep access
    other = next((a for a in fleet.accounts if a["id"] != acct["id"]
                  and fleet.granted(a, fm, in_region.region)), None)
    if other is not None:
        assert text_of(_converse(runtime, other, in_region))
        avail = bedrock(other, in_region.region).get_foundation_model_availability(modelId=fm)
        assert avail["authorizationStatus"] == "AUTHORIZED"


def test_access_change_via_admin_api(sim, bedrock, runtime, acct, in_region):
    sim.set_access(account=acct["id"], region=in_region.region, model=in_region.model_id, granted=False)
    err = _fails(lambda: _converse(runtime, acct, in_region), "AccessDeniedException", 403)
    assert err.response["Error"]["Message"]
    avail = bedrock(acct, in_region.region).get_foundation_model_availability(modelId=in_region.model_id)
    assert avail["authorizationStatus"] == "NOT_AUTHORIZED"
    sim.set_access(account=acct["id"], region=in_region.region, model=in_region.model_id, granted=True)
    assert text_of(_converse(runtime, acct, in_region))


def test_denied_destination_of_a_profile(sim, fleet, runtime):
    cases = fleet.denied_destinations()
    if not cases:
        pytest.skip("no account is denied a model in a destination region of a profile")
    account, profile, source, denied = cases[0]
    others = [d for d in profile["destinations"] if d != denied]
    for d in others:
        sim.add_fault(kind="outage", region=d)
    rt = runtime(account, source)
    with pytest.raises(ClientError) as e:
        rt.converse(modelId=profile["id"], messages=[user("hello")])
    assert error_code(e.value) == "AccessDeniedException"
    assert status_of(e.value) == 403
    msg = e.value.response["Error"]["Message"]
    assert denied in msg
    assert fleet.fm_arn(profile["model"], denied) in msg
    rows = sim.invocations(account=account["id"], status=403)
    assert rows and rows[0]["region"] == denied and rows[0]["source_region"] == source

    # with the denied region in outage instead, the profile always lands on a granted region
    # (called from a source other than the denied region, which is now down)
    other_source = next((s for s in profile["sources"] if s != denied
                         and s in fleet.account_regions(account)), None)
    if other_source is None:
        return
    sim.reset()
    sim.add_fault(kind="outage", region=denied)
    rt = runtime(account, other_source)
    for i in range(5):
        assert text_of(rt.converse(modelId=profile["id"], messages=[user(f"hello {i}")]))
    rows = sim.invocations(account=account["id"])
    assert sum(r["count"] for r in rows) == 5
    for r in rows:
        assert r["status"] == 200 and r["region"] != denied


# ---- quotas ---------------------------------------------------------------------------------


def test_rpm_quota_override(sim, fleet, runtime, acct, in_region):
    sim.set_quota(account=acct["id"], region=in_region.region, model=in_region.model_id, rpm=2, tpm=1_000_000)
    assert text_of(_converse(runtime, acct, in_region, "one"))
    assert text_of(_converse(runtime, acct, in_region, "two"))
    err = _fails(lambda: _converse(runtime, acct, in_region, "three"), "ThrottlingException", 429)
    assert err.response["Error"]["Message"] == THROTTLE_MESSAGE
    # a profile call is counted against the profile's own cross-region bucket
    p = next((x for x in fleet.profile_calls(acct) if x.region == in_region.region
              and x.profile["model"] == in_region.model_id), None)
    if p is not None:
        assert text_of(_converse(runtime, acct, p, "via profile"))
    # other accounts have their own buckets
    other = next((a for a in fleet.accounts if a["id"] != acct["id"]
                  and fleet.granted(a, in_region.model_id, in_region.region)), None)
    if other is not None:
        assert text_of(_converse(runtime, other, in_region, "other account"))


@pytest.mark.parametrize("max_tokens", [5, None], ids=["maxTokens=5", "default-maxTokens"])
def test_tpm_quota(sim, fleet, runtime, acct, in_region, max_tokens):
    """A small tokens-per-minute budget throttles the second call even with a generous rpm:
    the first call alone uses more tokens than the whole minute's budget. (Whether a single
    request larger than the budget is refused outright or admitted against a full bucket is not
    pinned down by the spec, so the first call may go either way.)"""
    sim.set_quota(account=acct["id"], region=in_region.region, model=in_region.model_id, rpm=1000, tpm=100)
    long_prompt = "tokens " * 60  # 105 input tokens: over the budget on its own
    kw = {"inferenceConfig": {"maxTokens": max_tokens}} if max_tokens else {}
    outcomes = []
    for _ in range(2):
        try:
            _converse(runtime, acct, in_region, long_prompt, **kw)
            outcomes.append("ok")
        except ClientError as e:
            outcomes.append(error_code(e))
            assert e.response["Error"]["Message"] == THROTTLE_MESSAGE
    assert outcomes[-1] == "ThrottlingException", outcomes


def test_fleet_account_quota(sim, fleet, runtime):
    for a in fleet.accounts:
        for q in a.get("quotas", []):
            rpm = q.get("rpm")
            if rpm is None or rpm > 60:
                continue
            calls = [c for c in fleet.in_region_calls(a) + fleet.profile_calls(a)
                     if q["region"] in ("*", c.region)
                     and q["model"] in ("*", c.model_id, c.foundation_model["id"])]
            if not calls:
                continue
            c = calls[0]
            rt = runtime(a, c.region)
            for i in range(rpm):
                rt.converse(modelId=c.model_id, messages=[user(f"q{i}")], inferenceConfig={"maxTokens": 5})
            with pytest.raises(ClientError) as e:
                rt.converse(modelId=c.model_id, messages=[user("one too many")], inferenceConfig={"maxTokens": 5})
            assert error_code(e.value) == "ThrottlingException"
            return
    pytest.skip("no fleet account has a small rpm quota")


def test_reset_clears_faults_quotas_access_and_stats(sim, fleet, runtime, acct, in_region):
    assert text_of(_converse(runtime, acct, in_region))
    sim.set_quota(account=acct["id"], region=in_region.region, model=in_region.model_id, rpm=1, tpm=1_000_000)
    sim.set_access(account=acct["id"], region=in_region.region, model=in_region.model_id, granted=False)
    sim.add_fault(kind="throttle")
    sim.add_fault(kind="outage", region=in_region.region)
    assert len(sim.faults()) == 2
    assert sim.stats()["totals"]["invocations"] >= 1

    sim.reset()
    assert sim.faults() == []
    st = sim.stats()
    assert st["invocations"] == [] and st["totals"]["invocations"] == 0
    for i in range(3):  # rpm=1 would have throttled the second
        assert text_of(_converse(runtime, acct, in_region, f"after reset {i}"))
