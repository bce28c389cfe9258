"""Identity: SigV4 verification, Bedrock API keys (Bearer), STS AssumeRole / GetCallerIdentity."""

from __future__ import annotations

import datetime
import json

import boto3
import botocore.auth
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from simlib import HTTP_TIMEOUT, NO_RETRIES, error_code, status_of, text_of, user


def _call_for(fleet, account, region=None):
    calls = fleet.in_region_calls(account) + fleet.profile_calls(account)
    if region is not None:
        calls = [c for c in calls if c.region == region]
    return calls[0] if calls else None


# ---- SigV4 ---------------------------------------------------------------------------------


def test_long_term_keys_work(sim, fleet, runtime):
    for a in fleet.accounts:
        c = _call_for(fleet, a)
        if c is None:
            continue
        resp = runtime(a, c.region).converse(modelId=c.model_id, messages=[user("hi")])
        assert text_of(resp)
        assert sum(r["count"] for r in sim.invocations(account=a["id"], status=200)) == 1


@pytest.mark.parametrize("service", ["bedrock", "bedrock-runtime"])
def test_wrong_secret_is_invalid_signature(sim, fleet, service):
    a = fleet.accounts[0]
    client = sim.client(service, a, "us-east-1", secret_access_key=a["secret_access_key"] + "x")
    with pytest.raises(ClientError) as e:
        if service == "bedrock":
            client.list_foundation_models()
        else:
            c = _call_for(fleet, a)
            client = sim.client(service, a, c.region, secret_access_key=a["secret_access_key"] + "x")
            client.converse(modelId=c.model_id, messages=[user("hi")])
    assert error_code(e.value) == "InvalidSignatureException"
    assert status_of(e.value) == 403
    assert sim.invocations(status=200) == []


@pytest.mark.parametrize("service", ["bedrock", "bedrock-runtime"])
def test_unknown_access_key_is_unrecognized(sim, fleet, service):
    known = {a["access_key_id"] for a in fleet.accounts}
    akid = "AKIAUNKNOWN000000000"
    assert akid not in known
    client = sim.client(service, None, "us-east-1", access_key_id=akid, secret_access_key="whatever")
    with pytest.raises(ClientError) as e:
        if service == "bedrock":
            client.list_foundation_models()
        else:
            client.converse(modelId="any.model-v1:0", messages=[user("hi")])
    assert error_code(e.value) == "UnrecognizedClientException"
    assert status_of(e.value) == 403


def test_expired_signature(sim, fleet, monkeypatch):
    stale = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: stale)
    r = sim.signed("GET", "/foundation-models", account=fleet.accounts[0], region="us-east-1")
    assert r.status_code == 403, r.text
    assert r.headers.get("x-amzn-ErrorType", "").split(":")[0] == "InvalidSignatureException"
    assert "expired" in r.json()["message"].lower()


def test_signature_over_tampered_body_fails(sim, fleet):
    """Sign one body, send another: the payload hash no longer matches."""
    a = fleet.accounts[0]
    c = _call_for(fleet, a)
    import botocore.awsrequest
    import botocore.credentials

    good = json.dumps({"messages": [user("hi")]})
    req = botocore.awsrequest.AWSRequest(
        method="POST", url=f"{sim.endpoint}/model/{c.model_id}/converse", data=good,
        headers={"Content-Type": "application/json"},
    )
    botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(a["access_key_id"], a["secret_access_key"]), "bedrock", c.region
    ).add_auth(req)
    p = req.prepare()
    r = requests.post(p.url, headers=dict(p.headers), data=good.replace("hi", "yo"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 403, r.text
    assert r.headers.get("x-amzn-ErrorType", "").split(":")[0] == "InvalidSignatureException"


# ---- Bedrock API keys -------------------------------------------------------------------------


def _api_key_case(fleet):
    """(account, api key, a call the account can make from the key's region)."""
    for a in fleet.accounts:
        for k in a.get("api_keys", []):
            region = k.get("region") or "us-east-1"
            c = _call_for(fleet, a, region)
            if c is not None:
                return a, k, c
    return None


@pytest.fixture
def api_key_case(fleet):
    case = _api_key_case(fleet)
    if case is None:
        pytest.skip("no account has an API key whose region it can call a model from")
    return case


def test_api_key_with_boto3_bearer(sim, api_key_case, monkeypatch, tmp_path):
    a, key, c = api_key_case
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key["token"])
    session = boto3.session.Session()
    assert session.get_credentials() is None, "the test must not have SigV4 credentials"
    # botocore only sends bearer tokens to https endpoints; the emulator serves http. Let botocore
    # build and authorize the request for https://…, then send it to the emulator's http address.
    rt = session.client(
        "bedrock-runtime", region_name=c.region, endpoint_url=sim.endpoint.replace("http://", "https://"),
        config=Config(retries=NO_RETRIES),
    )
    seen = {}

    def to_http(request, **kw):
        seen.update(request.headers)
        request.url = request.url.replace("https://", "http://", 1)

    rt.meta.events.register("before-send", to_http)
    resp = rt.converse(modelId=c.model_id, messages=[user("hello from an API key")])
    assert text_of(resp)
    auth = seen.get("Authorization")
    auth = auth.decode() if isinstance(auth, bytes) else auth
    assert auth == f"Bearer {key['token']}", "botocore did not use bearer auth"
    rows = sim.invocations(account=a["id"], status=200)
    assert len(rows) == 1 and rows[0]["source_region"] == c.region


def test_api_key_with_requests_and_region_header(sim, fleet, api_key_case):
    a, key, c = api_key_case
    body = json.dumps({"messages": [user("hi")]})
    headers = {"Authorization": f"Bearer {key['token']}", "Content-Type": "application/json"}
    # region from the key itself
    r = requests.post(f"{sim.endpoint}/model/{c.model_id}/converse", data=body, headers=headers,
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.json()["output"]["message"]["role"] == "assistant"
    rows = sim.invocations(account=a["id"], status=200)
    assert len(rows) == 1 and rows[0]["source_region"] == (key.get("region") or "us-east-1")

    # region from x-strata-region, for another region the account can call something from
    other = next(
        (x for x in fleet.in_region_calls(a) + fleet.profile_calls(a) if x.region != c.region), None
    )
    if other is not None:
        sim.reset()
        r = requests.post(f"{sim.endpoint}/model/{other.model_id}/converse", data=body,
                          headers={**headers, "x-strata-region": other.region}, timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        rows = sim.invocations(account=a["id"], status=200)
        assert len(rows) == 1 and rows[0]["source_region"] == other.region


def test_unknown_api_key_is_rejected(sim, api_key_case):
    _, _, c = api_key_case
    r = requests.post(
        f"{sim.endpoint}/model/{c.model_id}/converse",
        data=json.dumps({"messages": [user("hi")]}),
        headers={"Authorization": "Bearer ABSK-not-a-real-key", "Content-Type": "application/json",
                 "x-strata-region": c.region},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 403, r.text
    assert r.headers.get("x-amzn-ErrorType")
    assert r.json()["message"]


# ---- STS -----------------------------------------------------------------------------------


def test_get_caller_identity(fleet, sts):
    for a in fleet.accounts:
        ident = sts(a).get_caller_identity()
        assert ident["Account"] == a["id"]
        assert ident["Arn"].startswith(f"arn:aws:") and a["id"] in ident["Arn"]
        assert ident["UserId"]


@pytest.fixture
def role_pair(fleet):
    pairs = fleet.role_pairs()
    # prefer a target account that can call something
    pairs.sort(key=lambda p: _call_for(fleet, p[1]) is None)
    if not pairs or _call_for(fleet, pairs[0][1]) is None:
        pytest.skip("no trusted cross-account role into an account that can call a model")
    return pairs[0]


def test_assume_role_then_call_bedrock(sim, fleet, sts, role_pair):
    caller, target, role = role_pair
    arn = f"arn:aws:iam::{target['id']}:role/{role['name']}"
    got = sts(caller).assume_role(RoleArn=arn, RoleSessionName="strata-test", DurationSeconds=900)
    creds = got["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert creds["SecretAccessKey"] and creds["SessionToken"]
    left = (creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 600 < left <= 960, left
    assert got["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{role['name']}/strata-test")
    assert target["id"] in got["AssumedRoleUser"]["Arn"]

    temp = dict(access_key_id=creds["AccessKeyId"], secret_access_key=creds["SecretAccessKey"],
                session_token=creds["SessionToken"])
    ident = sim.client("sts", None, "us-east-1", **temp).get_caller_identity()
    assert ident["Account"] == target["id"]

    c = _call_for(fleet, target)
    resp = sim.client("bedrock-runtime", None, c.region, **temp).converse(
        modelId=c.model_id, messages=[user("hello across accounts")]
    )
    assert text_of(resp)
    rows = sim.invocations(status=200, operation="Converse")
    assert len(rows) == 1
    assert rows[0]["account"] == target["id"]
    assert rows[0]["account_name"] == target["name"]

    listed = sim.client("bedrock", None, c.region, **temp).list_foundation_models()
    assert listed["modelSummaries"] is not None


def test_assume_role_default_duration_is_one_hour(fleet, sts, role_pair):
    caller, target, role = role_pair
    got = sts(caller).assume_role(RoleArn=f"arn:aws:iam::{target['id']}:role/{role['name']}",
                                  RoleSessionName="s1")
    left = (got["Credentials"]["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    assert 3000 < left <= 3660, left


def test_bad_session_token_is_unrecognized(sim, fleet, sts, role_pair):
    caller, target, role = role_pair
    creds = sts(caller).assume_role(
        RoleArn=f"arn:aws:iam::{target['id']}:role/{role['name']}", RoleSessionName="s1"
    )["Credentials"]
    client = sim.client("bedrock", None, "us-east-1", access_key_id=creds["AccessKeyId"],
                        secret_access_key=creds["SecretAccessKey"],
                        session_token=creds["SessionToken"] + "tampered")
    with pytest.raises(ClientError) as e:
        client.list_foundation_models()
    assert error_code(e.value) == "UnrecognizedClientException"
    assert status_of(e.value) == 403


def test_assume_untrusted_role_is_access_denied(fleet, sts):
    pairs = fleet.untrusted_pairs()
    if not pairs:
        pytest.skip("every role trusts every account")
    caller, target, role = pairs[0]
    with pytest.raises(ClientError) as e:
        sts(caller).assume_role(RoleArn=f"arn:aws:iam::{target['id']}:role/{role['name']}",
                                RoleSessionName="nope")
    assert error_code(e.value) == "AccessDenied"
    assert status_of(e.value) == 403


def test_assume_unknown_role_fails(fleet, sts):
    caller = fleet.accounts[0]
    target = fleet.accounts[-1]
    names = {r["name"] for r in target.get("roles", [])}
    assert "NoSuchRoleForStrataTests" not in names
    with pytest.raises(ClientError) as e:
        sts(caller).assume_role(RoleArn=f"arn:aws:iam::{target['id']}:role/NoSuchRoleForStrataTests",
                                RoleSessionName="nope")
    assert 400 <= status_of(e.value) < 500
    assert error_code(e.value) in ("AccessDenied", "NoSuchEntity", "ValidationError")
