"""deploy/: the Helm chart, the Dockerfile, the Prometheus scrape config and the Grafana dashboard
hold what a multi-replica deployment needs, and every dashboard query names a metric a live
gateway exports. `helm` is not available here, so the chart is checked on its template text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
import yaml

from gatewaylib import Demo

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "strata"

# Counters registered on their first event only (a fallback, a baseline call, a cold start): a
# fresh demo has none, so they are checked against the gateway's metric-name constants instead.
EVENT_ONLY = {"strata_fallbacks_total", "strata_baseline_total", "strata_cold_starts_total",
              "strata_rate_limited_total"}


def template(name: str) -> str:
    return (CHART / "templates" / name).read_text()


def test_chart_metadata_and_values_parse():
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "strata" and chart["version"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["replicaCount"] == 2
    grace = values["config"]["server"]["shutdown_grace_seconds"]
    assert values["terminationGracePeriodSeconds"] > grace >= 30
    assert values["redis"]["enabled"] is True and values["postgres"]["enabled"] is False
    assert values["podDisruptionBudget"]["minAvailable"] == 1
    assert values["serviceMonitor"]["enabled"] is False
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["resources"]["requests"] and values["resources"]["limits"]


def test_deployment_has_probes_grace_and_a_directory_mounted_config():
    d = template("deployment.yaml")
    assert re.search(r"^kind: Deployment$", d, re.M)
    assert "replicas: {{ .Values.replicaCount }}" in d
    assert re.search(r"readinessProbe:\s+httpGet:\s+path: /readyz", d)
    assert re.search(r"livenessProbe:\s+httpGet:\s+path: /healthz", d)
    assert "terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}" in d
    # The ConfigMap is a directory mount (updates reach the pod), never a subPath.
    assert re.search(r"- name: config\s+mountPath: /etc/strata\s", d)
    assert not re.search(r"^\s*subPath:", d, re.M)
    assert '"--config", "/etc/strata/config.yaml"' in d and '"0.0.0.0:8080"' in d
    assert "secretRef:" in d and "resources:" in d and ".Values.securityContext" in d
    # A config checksum annotation would restart pods on every edit instead of hot reloading.
    assert "checksum/config" not in d


def test_other_manifests():
    assert re.search(r"^kind: PodDisruptionBudget$", template("pdb.yaml"), re.M)
    assert "minAvailable: {{ .Values.podDisruptionBudget.minAvailable }}" in template("pdb.yaml")
    sm = template("servicemonitor.yaml")
    assert sm.startswith("{{- if .Values.serviceMonitor.enabled }}")
    assert re.search(r"^kind: ServiceMonitor$", sm, re.M) and "path: /metrics" in sm
    redis = template("redis.yaml")
    assert redis.startswith("{{- if .Values.redis.enabled }}")
    assert len(re.findall(r"^kind: (Deployment|Service)$", redis, re.M)) == 2
    assert re.search(r"^kind: ConfigMap$", template("configmap.yaml"), re.M)
    assert re.search(r"^kind: Service$", template("service.yaml"), re.M)
    helpers = template("_helpers.tpl")
    # The config points shared state at the chart's Redis and usage at PostgreSQL when enabled.
    assert '"redis_url" (printf "redis://%s:6379/0"' in helpers
    assert '"database_url" "${STRATA_DATABASE_URL}"' in helpers
    assert "STRATA_DATABASE_URL" in template("deployment.yaml")
    # Every template's actions are balanced.
    for t in (CHART / "templates").iterdir():
        text = t.read_text()
        assert text.count("{{") == text.count("}}"), t.name
        opened = len(re.findall(r"{{-?\s*(if|with|range|define)\b", text))
        assert opened == len(re.findall(r"{{-?\s*end\s*-?}}", text)), t.name


def test_dockerfile_is_multi_stage_non_root_and_builds_strata():
    d = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", d, re.M)
    assert len(froms) == 2 and "slim-bookworm" in froms[0] and froms[1] == "debian:bookworm-slim"
    assert "cargo build --release -p strata --locked" in d
    users = re.findall(r"^USER (\S+)", d, re.M)
    assert users and not users[-1].startswith(("root", "0:", "0"))
    assert 'ENTRYPOINT ["strata"]' in d and "EXPOSE 8080" in d and "/healthz" in d
    assert "target/" in (ROOT / ".dockerignore").read_text()


def test_prometheus_scrape_config_targets_metrics():
    cfg = yaml.safe_load((DEPLOY / "prometheus" / "scrape.yaml").read_text())
    jobs = cfg["scrape_configs"]
    assert [j["job_name"] for j in jobs] == ["strata"]
    assert jobs[0]["metrics_path"] == "/metrics" and jobs[0]["kubernetes_sd_configs"]


def dashboard_exprs() -> list[tuple[str, str]]:
    dash = json.loads((DEPLOY / "grafana" / "strata.json").read_text())
    return [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]


@pytest.fixture(scope="module")
def exposition(tmp_path_factory):
    d = Demo(tmp_path_factory.mktemp("demo"))
    try:
        base = f"http://127.0.0.1:{d.gw}"
        r = requests.post(base + "/v1/chat/completions", headers={"Authorization": "Bearer sk-demo-eu"},
                          json={"model": "claude-sonnet-4", "max_tokens": 5,
                                "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert r.status_code == 200, r.text
        # A stream too, so time to first token has samples.
        r = requests.post(base + "/v1/chat/completions", headers={"Authorization": "Bearer sk-demo-eu"},
                          json={"model": "claude-sonnet-4", "max_tokens": 5, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert r.status_code == 200 and "[DONE]" in r.text, r.text
        yield requests.get(base + "/metrics", timeout=10).text
    finally:
        d.stop()


def test_every_dashboard_query_names_an_exported_metric(exposition):
    families = set(re.findall(r"^# TYPE (\S+) ", exposition, re.M))
    assert {"strata_requests_total", "strata_model_available", "strata_request_duration_seconds",
            "strata_cost_usd_total", "strata_time_to_first_token_seconds"} <= families
    constants = set(re.findall(r'"(strata_[a-z_]+)"', (ROOT / "crates" / "strata-gateway" / "src" / "telemetry.rs").read_text()))
    exprs = dashboard_exprs()
    wanted = {"strata_model_available", "strata_catalog_age_seconds", "strata_requests_total",
              "strata_request_duration_seconds", "strata_time_to_first_token_seconds", "strata_upstream_attempts_total",
              "strata_fallbacks_total", "strata_baseline_total", "strata_tokens_total", "strata_cost_usd_total",
              "strata_rate_limited_total", "strata_cold_starts_total", "strata_discovery_duration_seconds",
              "strata_catalog_events_total"}
    named = set()
    for title, expr in exprs:
        names = re.findall(r"strata_[a-z_]+", expr)
        assert names, (title, expr)
        for name in names:
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if base != name:
                assert f"{base} histogram" in exposition, (title, name)
            named.add(base)
            if base in EVENT_ONLY:
                assert base in constants, (title, base)
            else:
                assert base in families, (title, base, sorted(families))
    assert wanted <= named, wanted - named


def test_every_dashboard_grouping_names_a_label_the_metric_has(exposition):
    """`sum by (tenant, kind)` over a metric without those labels draws one nameless line: each
    label a panel groups or filters by must be one the live metric carries."""
    labels_of: dict[str, set[str]] = {}
    for line in exposition.splitlines():
        m = re.match(r"^(strata_\w+?)(?:_bucket|_sum|_count)?\{(.*)\} ", line)
        if m:
            labels_of.setdefault(m.group(1), set()).update(re.findall(r'(\w+)="', m.group(2)))
    for title, expr in dashboard_exprs():
        metrics = {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"strata_[a-z_]+", expr)}
        used = set()
        for group in re.findall(r"by \(([^)]*)\)", expr):
            used |= {g.strip() for g in group.split(",")} - {"le"}
        used |= set(re.findall(r"[{,]\s*(\w+)\s*[!=]~?", expr))
        for name in metrics - EVENT_ONLY:
            have = labels_of.get(name, set())
            assert used <= have | {"le"}, (title, name, used - have)
