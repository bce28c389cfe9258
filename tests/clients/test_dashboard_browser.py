"""The dashboard in a real browser: Debian's chromium driven by Playwright (npm `playwright-core`,
tests/browser/, installed by .ci/run). Against `strata demo`: sign in with the admin key through the
form, see the availability matrix of the demo fleet, pick the EU tenant and a model in the route
explorer and see its candidates and exclusions with their reasons, see the traffic just sent, and
save screenshots (to $STRATA_ARTIFACTS, else tests/clients/artifacts/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from openai import OpenAI

from gatewaylib import Demo

ROOT = Path(__file__).resolve().parents[2]
BROWSER = ROOT / "tests" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
EU_REGIONS = {"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2",
              "eu-west-3"}


def artifacts() -> Path:
    out = Path(os.environ.get("STRATA_ARTIFACTS") or ROOT / "tests" / "clients" / "artifacts")
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo"))
    yield f"http://127.0.0.1:{d.gw}"
    d.stop()


def run_browser(gateway: str, tenant: str, model: str) -> dict:
    if not (BROWSER / "node_modules" / "playwright-core").is_dir():
        pytest.fail("tests/browser/node_modules is missing: run `npm ci` in tests/browser (.ci/run does)", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)", pytrace=False)
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    done = subprocess.run([node, "dashboard.mjs", gateway, "sk-demo-admin", tenant, model, str(artifacts())],
                          cwd=BROWSER, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_admin_sees_the_matrix_the_route_explorer_and_traffic(demo):
    # Traffic for the traffic section: the EU tenant's requests.
    eu = OpenAI(base_url=demo + "/v1", api_key="sk-demo-eu", max_retries=0)
    for i in range(3):
        eu.chat.completions.create(model="claude-sonnet-4", messages=[{"role": "user", "content": f"hi {i}"}],
                                   max_tokens=5)
    seen = run_browser(demo, "eu-bank", "claude-sonnet-4")
    assert "error" not in seen, seen.get("error")
    assert seen["steps"] == ["overview", "matrix", "explorer", "traffic"]
    # Signed out, the page is the sign-in form, with a strict CSP.
    assert seen["first_status"] == 401
    assert "script-src 'self'" in seen["csp"] and "default-src 'none'" in seen["csp"]
    # Nothing the page did failed, besides the sign-in form's own 401.
    assert seen["failed_responses"] == ["401 /dashboard"], seen["failed_responses"]
    assert [e for e in seen["console_errors"] if "status of 401" not in e] == [], seen["console_errors"]

    # Overview: the demo fleet's scans.
    scans = next(c for c in seen["overview_cards"] if c.startswith("Scans"))
    assert "4 accounts × 22 regions" in scans, seen["overview_cards"]

    # The matrix: real model × region cells of the demo fleet, as the admin API has them.
    cells = seen["matrix_cells"]
    assert len(cells) > 50, cells[:5]
    assert {"eu-west-1", "us-east-1", "ap-northeast-1"} <= set(seen["matrix_regions"])
    matrix = requests.get(demo + "/admin/matrix", headers={"Authorization": "Bearer sk-demo-admin"}, timeout=10).json()
    expected = {(r["model"], matrix["columns"][i]["region"]): c["access"]
                for r in matrix["rows"] for i, c in enumerate(r["cells"]) if c}
    assert all(expected.get((c["model"], c["region"])) == c["access"] for c in cells)
    assert any(c["access"] == "on_demand" and c["text"].startswith("●") for c in cells)
    assert seen["filtered_models"] and all("claude" in m for m in seen["filtered_models"])
    assert "profile" in seen["cell_detail"] or "No inference profile" in seen["cell_detail"]

    # The route explorer: the EU tenant's candidates run only in the EU; exclusions say why.
    assert seen["residency"] == "residency: EU only"
    assert seen["candidates"], "no candidates shown"
    for row in seen["candidates"]:
        assert set(row[3].split(", ")) <= EU_REGIONS, row
    assert seen["exclusions"], "no exclusions shown"
    # One row per reason: [why, left out by, how many targets, which].
    assert any("outside the tenant's residency" in row[0] and int(row[2]) > 0 for row in seen["exclusions"]), \
        seen["exclusions"][:3]
    assert not any("Only(" in " ".join(row) or "Zone(" in " ".join(row) for row in seen["exclusions"])

    # Traffic: the requests just sent, by target, and the EU tenant's minute.
    assert seen["traffic_targets"], "no targets in the traffic section"
    eu_row = next(r for r in seen["traffic_tenants"] if r[0] == "eu-bank")
    assert eu_row[1].startswith("3"), eu_row

    for name in ("dashboard-overview.png", "dashboard-matrix.png", "dashboard-explorer.png", "dashboard-traffic.png"):
        assert (artifacts() / name).stat().st_size > 10_000, name
