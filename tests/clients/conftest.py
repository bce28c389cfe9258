"""Fixtures: one `strata sim --zero-latency` per session on a free port, the fleet it serves,
boto3 client factories pointed at it, and a reset before every test.

The binary is $STRATA_BIN, else target/release/strata, else target/debug/strata. Without one the
whole suite fails (no silent skips)."""

from __future__ import annotations

import json
import sys

import pytest

from simlib import Sim, augmented_fleet, find_binary

BODIES = ["anthropic", "nova", "llama", "mistral"]


def _start(tmp_path_factory, fleet_file=None) -> Sim:
    try:
        binary = find_binary()
    except FileNotFoundError as e:
        pytest.fail(str(e), pytrace=False)
    return Sim(binary, fleet_file=fleet_file, log_dir=tmp_path_factory.mktemp("sim-logs"))


def _stop(sim: Sim) -> None:
    died = not sim.alive()
    code = sim.proc.returncode
    sim.stop()
    if died:
        sys.stderr.write(f"\nstrata sim ({sim.endpoint}) died with exit code {code}; its stderr:\n")
        sys.stderr.write(sim.stderr_path.read_text(errors="replace"))


@pytest.fixture(scope="session")
def sim(tmp_path_factory):
    s = _start(tmp_path_factory)
    yield s
    _stop(s)


@pytest.fixture(scope="session")
def fleet(sim):
    return sim.fleet


@pytest.fixture(autouse=True)
def _reset_sim(sim):
    sim.reset()
    yield
    if not sim.alive():
        pytest.fail(f"strata sim died during the test; stderr:\n{sim.stderr()}", pytrace=False)


@pytest.fixture(scope="session")
def invoke_sim(sim, tmp_path_factory):
    """A sim whose fleet has a model of every InvokeModel body kind. The default fleet if it has
    them all, else a second emulator on the default fleet plus one model per missing kind."""
    present = {m["body"] for m in sim.fleet.models}
    missing = [b for b in BODIES if b not in present]
    if not missing:
        yield sim
        return
    path = tmp_path_factory.mktemp("fleet") / "fleet.json"
    path.write_text(json.dumps(augmented_fleet(sim.fleet.raw, missing)))
    extra = _start(tmp_path_factory, fleet_file=path)
    yield extra
    _stop(extra)


@pytest.fixture
def bedrock(sim):
    """bedrock (control plane) client factory: bedrock(account=None, region="us-east-1")."""

    def make(account=None, region="us-east-1", **kw):
        return sim.client("bedrock", account, region, **kw)

    return make


@pytest.fixture
def runtime(sim):
    """bedrock-runtime client factory: runtime(account=None, region="us-east-1")."""

    def make(account=None, region="us-east-1", **kw):
        return sim.client("bedrock-runtime", account, region, **kw)

    return make


@pytest.fixture
def sts(sim):
    """STS client factory: sts(account=None, region="us-east-1")."""

    def make(account=None, region="us-east-1", **kw):
        return sim.client("sts", account, region, **kw)

    return make
