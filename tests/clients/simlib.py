"""Helpers for the `strata sim` client tests: starting the emulator, the admin API, and
finding the fleet facts a test needs by scanning the fleet JSON (never hard-coded)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import requests
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
# One attempt, no retries: tests must see a 429/5xx directly. (In botocore's retry config
# "max_attempts" counts *retries* in legacy mode, so {"max_attempts": 1} would retry once and
# hide a count=1 fault; "total_max_attempts" counts the first attempt.)
NO_RETRIES = {"total_max_attempts": 1, "mode": "standard"}
HTTP_TIMEOUT = 15  # seconds; every raw request has one so nothing can hang the suite


def find_binary() -> Path:
    """STRATA_BIN, else target/release/strata, else target/debug/strata."""
    env = os.environ.get("STRATA_BIN")
    if env:
        path = Path(env)
        if not path.is_file():
            raise FileNotFoundError(f"STRATA_BIN={env} does not exist")
        return path
    for profile in ("release", "debug"):
        path = REPO / "target" / profile / "strata"
        if path.is_file():
            return path
    raise FileNotFoundError(
        "no strata binary: set STRATA_BIN or build it (`cargo build` → target/debug/strata)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sim:
    """A running `strata sim` process."""

    def __init__(self, binary: Path, fleet_file: Path | None = None, log_dir: Path | None = None):
        self.binary = binary
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        args = [str(binary), "sim", "--listen", f"127.0.0.1:{self.port}", "--zero-latency"]
        if fleet_file is not None:
            args += ["--fleet", str(fleet_file)]
        log_dir = log_dir or Path("/tmp")
        self.stdout_path = log_dir / f"strata-sim-{self.port}.out"
        self.stderr_path = log_dir / f"strata-sim-{self.port}.err"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)
        self._wait_ready(30.0)
        self.fleet = Fleet(self.get("/_sim/fleet").json())
        self._session = boto3.session.Session()
        self._clients: dict = {}

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"strata sim exited with {self.proc.returncode} before it was ready:\n{self.stderr()}"
                )
            try:
                r = requests.get(self.endpoint + "/_sim/health", timeout=2)
                if r.status_code == 200 and r.json().get("status") == "ok":
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:  # not listening yet
                last = repr(e)
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"strata sim not ready after {timeout}s (last: {last}):\n{self.stderr()}")

    def stderr(self) -> str:
        self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()

    # ---- admin API -------------------------------------------------------------------

    def get(self, path: str) -> requests.Response:
        return requests.get(self.endpoint + path, timeout=HTTP_TIMEOUT)

    def post(self, path: str, body=None) -> requests.Response:
        return requests.post(self.endpoint + path, json=body, timeout=HTTP_TIMEOUT)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.endpoint + path, timeout=HTTP_TIMEOUT)

    def reset(self) -> None:
        r = self.post("/_sim/reset")
        assert r.status_code == 200, f"reset failed: {r.status_code} {r.text}"

    def stats(self) -> dict:
        r = self.get("/_sim/stats")
        assert r.status_code == 200, r.text
        return r.json()

    def invocations(self, **match) -> list[dict]:
        """Stats invocation rows whose fields equal every given value."""
        return [
            row
            for row in self.stats()["invocations"]
            if all(row.get(k) == v for k, v in match.items())
        ]

    def add_fault(self, **spec) -> str:
        r = self.post("/_sim/faults", spec)
        assert r.status_code == 200, f"adding fault {spec} failed: {r.status_code} {r.text}"
        fid = r.json()["id"]
        assert isinstance(fid, str) and fid
        return fid

    def faults(self) -> list:
        r = self.get("/_sim/faults")
        assert r.status_code == 200, r.text
        body = r.json()
        return body["faults"] if isinstance(body, dict) else body

    def set_quota(self, **spec) -> None:
        r = self.post("/_sim/quotas", spec)
        assert r.status_code == 200, f"setting quota {spec} failed: {r.status_code} {r.text}"

    def set_access(self, **spec) -> None:
        r = self.post("/_sim/access", spec)
        assert r.status_code == 200, f"setting access {spec} failed: {r.status_code} {r.text}"

    # ---- clients ---------------------------------------------------------------------

    def client(self, service: str, account: dict | None = None, region: str = "us-east-1", *,
               access_key_id: str | None = None, secret_access_key: str | None = None,
               session_token: str | None = None, read_timeout: float = 30):
        account = account or self.fleet.accounts[0]
        key = (service, region, access_key_id or account["access_key_id"],
               secret_access_key or account["secret_access_key"], session_token, read_timeout)
        cached = self._clients.get(key)
        if cached is None:
            cached = self._clients[key] = self._new_client(service, region, *key[2:])
        return cached

    def _new_client(self, service, region, access_key_id, secret_access_key, session_token, read_timeout):
        return self._session.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            aws_session_token=session_token,
            config=Config(
                retries=NO_RETRIES,
                connect_timeout=5,
                read_timeout=read_timeout,
            ),
        )

    def signed(self, method: str, path: str, *, account: dict | None = None, region: str = "us-east-1",
               body: bytes | str = b"", headers: dict | None = None, service: str = "bedrock",
               access_key_id: str | None = None, secret_access_key: str | None = None,
               timeout: float = HTTP_TIMEOUT) -> requests.Response:
        """A raw request, correctly SigV4-signed with botocore, sent with `requests`."""
        account = account or self.fleet.accounts[0]
        if isinstance(body, str):
            body = body.encode()
        creds = botocore.credentials.Credentials(
            access_key_id or account["access_key_id"], secret_access_key or account["secret_access_key"]
        )
        hdrs = {"Content-Type": "application/json", "Accept": "application/json"}
        hdrs.update(headers or {})
        req = botocore.awsrequest.AWSRequest(method=method, url=self.endpoint + path, data=body, headers=hdrs)
        botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
        prepared = req.prepare()
        return requests.request(
            method, prepared.url, headers=dict(prepared.headers), data=body, timeout=timeout
        )


# ---- fleet lookups -------------------------------------------------------------------


@dataclass
class Call:
    """Something callable: a model or profile ID, the region to call from, and the foundation model."""

    model_id: str
    region: str
    foundation_model: dict
    profile: dict | None = None


class Fleet:
    def __init__(self, raw: dict):
        self.raw = raw
        self.regions: list[str] = raw["regions"]
        self.models: list[dict] = raw["models"]
        self.profiles: list[dict] = raw["profiles"]
        self.accounts: list[dict] = raw["accounts"]

    def model(self, model_id: str) -> dict:
        return next(m for m in self.models if m["id"] == model_id)

    def account_regions(self, account: dict) -> list[str]:
        return account.get("regions") or self.regions

    def denied(self, account: dict, model_id: str, region: str) -> bool:
        return any(
            d["model"] in (model_id, "*") and d["region"] in (region, "*")
            for d in account.get("denied", [])
        )

    def granted(self, account: dict, model_id: str, region: str) -> bool:
        return region in self.account_regions(account) and not self.denied(account, model_id, region)

    def fm_arn(self, model_id: str, region: str) -> str:
        return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"

    def profile_arn(self, profile_id: str, region: str, account: dict) -> str:
        return f"arn:aws:bedrock:{region}:{account['id']}:inference-profile/{profile_id}"

    # -- callables ---------------------------------------------------------------------

    def in_region_calls(self, account: dict | None = None, body: str | None = None) -> list[Call]:
        """(model, region) pairs callable with the plain model ID (on-demand there); only models
        that generate text unless `body` names another (e.g. "titan-embed")."""
        out = []
        for m in self.models:
            if body and m["body"] != body:
                continue
            if not body and "TEXT" not in m["output_modalities"]:
                continue
            for r in m["on_demand_in"]:
                if r in m["hosted_in"] and (account is None or self.granted(account, m["id"], r)):
                    out.append(Call(m["id"], r, m))
        return out

    def profile_calls(self, account: dict | None = None, body: str | None = None) -> list[Call]:
        """(profile, source region) pairs whose every destination the account may use."""
        out = []
        for p in self.profiles:
            m = self.model(p["model"])
            if body and m["body"] != body:
                continue
            if not body and "TEXT" not in m["output_modalities"]:
                continue
            if account is not None and not all(
                self.granted(account, m["id"], d) for d in p["destinations"]
            ):
                continue
            for s in p["sources"]:
                if account is None or s in self.account_regions(account):
                    out.append(Call(p["id"], s, m, p))
        return out

    def profile_only(self) -> list[tuple[dict, str]]:
        """(model, region) where the model is hosted but not on-demand: profile-only in-region."""
        return [(m, r) for m in self.models for r in m["hosted_in"] if r not in m["on_demand_in"]]

    def any_call(self, account: dict | None = None, body: str | None = None) -> Call | None:
        calls = self.in_region_calls(account, body) + self.profile_calls(account, body)
        return calls[0] if calls else None

    def denied_destinations(self) -> list[tuple[dict, dict, str, str]]:
        """(account, profile, source region, denied destination) where the account lacks the
        profile's model in one destination but may call the profile from the source region."""
        out = []
        for a in self.accounts:
            for p in self.profiles:
                for d in p["destinations"]:
                    if not self.denied(a, p["model"], d) or d not in self.account_regions(a):
                        continue
                    sources = [s for s in p["sources"] if s in self.account_regions(a)]
                    # prefer a source that is not one of the *other* destinations, so a test
                    # can put every other destination in outage without touching the source
                    # (whether a source-region outage also fails a profile call is not
                    # something these tests rely on); among those, prefer one != d
                    others = set(p["destinations"]) - {d}
                    sources.sort(key=lambda s: (s in others, s == d))
                    if sources:
                        out.append((a, p, sources[0], d))
        return out

    def role_pairs(self) -> list[tuple[dict, dict, dict]]:
        """(caller, target account, role) where the role in the target trusts the caller."""
        out = []
        for target in self.accounts:
            for role in target.get("roles", []):
                for caller in self.accounts:
                    if caller["id"] != target["id"] and (
                        caller["id"] in role["trusted"] or "*" in role["trusted"]
                    ):
                        out.append((caller, target, role))
        return out

    def untrusted_pairs(self) -> list[tuple[dict, dict, dict]]:
        out = []
        for target in self.accounts:
            for role in target.get("roles", []):
                if "*" in role["trusted"]:
                    continue
                for caller in self.accounts:
                    if caller["id"] != target["id"] and caller["id"] not in role["trusted"]:
                        out.append((caller, target, role))
        return out


def user(text: str) -> dict:
    return {"role": "user", "content": [{"text": text}]}


def text_of(converse_response: dict) -> str:
    return "".join(b.get("text", "") for b in converse_response["output"]["message"]["content"])


def error_code(exc) -> str:
    return exc.response["Error"]["Code"]


def status_of(exc) -> int:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"]


def augmented_fleet(raw: dict, bodies: list[str]) -> dict:
    """The fleet plus one on-demand model for each missing body kind (llama, mistral, …)."""
    templates = {
        "anthropic": ("anthropic.claude-3-haiku-20240307-v1:0", "Claude 3 Haiku", "Anthropic"),
        "nova": ("amazon.nova-lite-v1:0", "Nova Lite", "Amazon"),
        "llama": ("meta.llama3-1-8b-instruct-v1:0", "Llama 3.1 8B Instruct", "Meta"),
        "mistral": ("mistral.mistral-large-2402-v1:0", "Mistral Large", "Mistral AI"),
    }
    fleet = json.loads(json.dumps(raw))
    region = fleet["regions"][0]
    for body in bodies:
        mid, name, provider = templates[body]
        fleet["models"].append(
            {
                "id": mid,
                "name": name,
                "provider": provider,
                "body": body,
                "input_modalities": ["TEXT"],
                "output_modalities": ["TEXT"],
                "streaming": True,
                "lifecycle": "ACTIVE",
                "output_token_weight": 1,
                "hosted_in": [region],
                "on_demand_in": [region],
            }
        )
    return fleet


def wait_until(predicate, timeout=20.0, step=0.02):
    """predicate() until it returns something truthy (returned); fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not reached within {timeout} s")
