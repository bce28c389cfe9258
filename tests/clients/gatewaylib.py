"""Starting `strata serve` in front of the test emulator, with a config written per test."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import boto3
import requests
from botocore.config import Config

from simlib import NO_RETRIES, free_port


class Gateway:
    """A running `strata serve` process on a free port."""

    def __init__(self, binary: Path, config_text: str, workdir: Path, env: dict | None = None):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / f"gateway-{self.port}.yaml"
        self.config_path.write_text(config_text)
        self.stderr_path = workdir / f"gateway-{self.port}.err"
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--config", str(self.config_path), "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=self._err, stdin=subprocess.DEVNULL,
            env=env,  # None: this process's environment
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"strata serve exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                if requests.get(self.endpoint + "/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"strata serve did not start:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()

    def bedrock(self, key: str, read_timeout: int = 15):
        """A boto3 bedrock-runtime client that authenticates with a Strata key as a Bedrock API
        key (AWS_BEARER_TOKEN_BEDROCK), exactly as an unmodified app would."""
        # botocore reads the key when a request is signed, so it stays in the environment (each
        # test uses a client right after making it).
        os.environ["AWS_BEARER_TOKEN_BEDROCK"] = key
        session = boto3.session.Session()
        # botocore only sends bearer tokens to https endpoints (a TLS terminator sits in front of
        # a production gateway); build the request for https://, send it to our http port.
        client = session.client(
            "bedrock-runtime", region_name="us-east-1", endpoint_url=self.endpoint.replace("http://", "https://"),
            config=Config(retries=NO_RETRIES, read_timeout=read_timeout, connect_timeout=5),
        )

        def to_http(request, **kw):
            request.url = request.url.replace("https://", "http://", 1)

        client.meta.events.register("before-send", to_http)
        return client


def account(fleet, name: str) -> dict:
    return next(a for a in fleet.accounts if a["name"] == name)


def static_account(fleet, name: str) -> str:
    a = account(fleet, name)
    return (f"  - name: {name}\n    credentials: {{type: static, access_key_id: {a['access_key_id']}, "
            f"secret_access_key: {a['secret_access_key']}}}\n")


def admin_get(gateway: "Gateway", path: str, key: str, **params) -> requests.Response:
    return requests.get(gateway.endpoint + path, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def refresh_discovery(gateway: "Gateway", key: str) -> None:
    """Runs a discovery round now (`POST /admin/discovery/refresh`) and waits for it to finish."""
    r = requests.post(gateway.endpoint + "/admin/discovery/refresh", headers={"Authorization": f"Bearer {key}"},
                      timeout=60)
    assert r.status_code == 200, r.text


def wait_for_round(gateway: "Gateway", key: str, after: int = 0, timeout: float = 30.0) -> dict:
    """Waits until discovery has finished a round later than `after` (unix seconds) and returns
    /admin/catalog's body."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = admin_get(gateway, "/admin/catalog", key)
        assert r.status_code == 200, r.text
        body = r.json()
        last = body["discovery"]["last_round"]
        if last is not None and last["finished_at"] >= after:
            return body
        time.sleep(0.05)
    raise AssertionError(f"no discovery round finished within {timeout} s:\n{gateway.stderr()}")


def gateways(tmp_path, monkeypatch, default_config, after_start=None, env=None):
    """The body of a `gateway` fixture: yields `start(config_text=None)` that spawns a gateway
    (on `default_config()` when no text is given, then runs `after_start(g)` if given), and
    stops them all afterwards, failing the test if one died on its own. `env`, if given, is the
    gateways' whole environment (default: this process's)."""
    # Clients made by Gateway.bedrock() put their key in AWS_BEARER_TOKEN_BEDROCK; monkeypatch
    # restores the environment afterwards so no other test sees it.
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", "unset-until-a-client-is-made")
    from simlib import find_binary

    started = []

    def start(text=None, wait=True):
        g = Gateway(find_binary(), text or default_config(), tmp_path, env=env)
        started.append(g)
        if wait and after_start is not None:
            after_start(g)
        return g

    yield start
    died = []
    for g in started:
        if not (g.proc.poll() is None or getattr(g, "stopped_by_test", False)):
            died.append(g)
        g.stop()
    # Every gateway is stopped before a death fails the test, so none outlives it.
    assert not died, "strata serve died:\n" + "\n".join(g.stderr() for g in died)


class Demo:
    """A running `strata demo` on free ports (plain, TLS, emulator), started once its banner is
    printed. `printed` is the banner; `stop()` returns the exit code."""

    def __init__(self, workdir: Path):
        from simlib import find_binary

        self.gw, self.sim, self.tls = free_port(), free_port(), free_port()
        out, err = workdir / "demo.out", workdir / "demo.err"
        self.proc = subprocess.Popen(
            [str(find_binary()), "demo", "--listen", f"127.0.0.1:{self.gw}", "--sim-listen", f"127.0.0.1:{self.sim}",
             "--tls-listen", f"127.0.0.1:{self.tls}", "--zero-latency"],
            stdout=open(out, "wb"), stderr=open(err, "wb"), stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Ctrl-C" not in out.read_text(errors="replace"):
            if self.proc.poll() is not None:
                raise RuntimeError(f"strata demo exited:\n{err.read_text(errors='replace')}")
            time.sleep(0.1)
        self.printed = out.read_text(errors="replace")
        if "Ctrl-C" not in self.printed:
            self.proc.kill()
            raise RuntimeError(f"strata demo did not start within a minute:\n{self.printed}\n"
                               f"{err.read_text(errors='replace')}")

    def stop(self) -> int | None:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
