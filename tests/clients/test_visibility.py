"""What tenants and outsiders see (issue "Production edges", item 7):

1. `x-strata-route` and error messages show a tenant only what its `route_detail` allows:
   `region` (the default: logical model and region), `model`, or `full` (account and model ID);
2. the dashboard asks for an admin key once (a sign-in form, then a session cookie) and shows
   nothing to anyone else; the admin API refuses tenants;
3. `admin.listen` moves the admin API, the dashboard and `/metrics` to their own address;
   `admin.metrics: admin_key` closes `/metrics` to anyone without an admin key."""

from __future__ import annotations

import requests
from openai import OpenAI

from gatewaylib import Gateway, static_account
from simlib import find_binary, free_port

NOVA_MICRO = "amazon.nova-micro-v1:0"
ADMIN = "sk-visibility-admin1"
KEYS = {"region": "sk-vis-region-0001", "model": "sk-vis-model-00001", "full": "sk-vis-full-000001"}


def config(sim, extra: str = "", admin_extra: str = "") -> str:
    return f"""
aws:
  endpoint_url: {sim.endpoint}
accounts:
{static_account(sim.fleet, "prod-us")}discovery: {{enabled: false}}
models:
  - name: micro
    deployments: [{{account: prod-us, region: us-east-1, model: {NOVA_MICRO}}}]
tenants:
  - {{name: default-detail, keys: [{KEYS["region"]}]}}
  - {{name: model-detail, keys: [{KEYS["model"]}], route_detail: model}}
  - {{name: full-detail, keys: [{KEYS["full"]}], route_detail: full}}
admin:
  keys: [{ADMIN}]
{admin_extra}routing:
  retries: {{max_attempts: 1, base_delay_ms: 1, max_delay_ms: 10}}
{extra}"""


def chat(g: Gateway, key: str) -> requests.Response:
    return requests.post(g.endpoint + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                         json={"model": "micro", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8},
                         timeout=30)


def test_route_header_follows_route_detail(sim, tmp_path):
    g = Gateway(find_binary(), config(sim), tmp_path)
    try:
        assert chat(g, KEYS["region"]).headers["x-strata-route"] == "micro/us-east-1"
        assert chat(g, KEYS["model"]).headers["x-strata-route"] == "micro"
        assert chat(g, KEYS["full"]).headers["x-strata-route"] == f"prod-us/us-east-1/{NOVA_MICRO}"
        # The same through boto3 (Bedrock API).
        r = g.bedrock(KEYS["region"]).converse(modelId="micro", messages=[{"role": "user", "content": [{"text": "x"}]}])
        assert r["ResponseMetadata"]["HTTPHeaders"]["x-strata-route"] == "micro/us-east-1"
    finally:
        g.stop()


def test_error_messages_do_not_name_accounts_below_full(sim, tmp_path):
    # One throttled call puts the only deployment in cooldown; then the gateway's refusal names
    # the route it skipped (account/region/model) — to operators and `full` tenants only.
    text = config(sim).replace("routing:\n", "routing:\n  cooldown: {failures: 1, window_ms: 60000, duration_ms: 60000}\n")
    g = Gateway(find_binary(), text, tmp_path)
    try:
        sim.add_fault(kind="throttle", model=NOVA_MICRO)
        assert chat(g, KEYS["full"]).status_code == 429
        seen = {}
        for detail, key in KEYS.items():
            r = chat(g, key)
            assert r.status_code == 429, r.text
            seen[detail] = r.json()["error"]["message"]
        assert "prod-us/us-east-1" in seen["full"], seen
        for detail in ("region", "model"):
            assert "cooling down" in seen[detail] and "prod-us" not in seen[detail], seen
        assert "us-east-1" in seen["region"] and "us-east-1" not in seen["model"], seen
    finally:
        g.stop()


def test_dashboard_asks_for_an_admin_key_once(sim, tmp_path):
    g = Gateway(find_binary(), config(sim), tmp_path)
    try:
        outsider = requests.get(g.endpoint + "/dashboard", timeout=10)
        assert outsider.status_code == 401 and 'name="key"' in outsider.text
        assert "prod-us" not in outsider.text and "us-east-1" not in outsider.text
        # A tenant key is not an admin key.
        s = requests.Session()
        r = s.post(g.endpoint + "/dashboard/login", data={"key": KEYS["full"]}, timeout=10)
        assert r.status_code == 401 and "prod-us" not in r.text
        r = s.post(g.endpoint + "/dashboard/login", data={"key": ADMIN}, timeout=10)
        assert r.status_code == 200 and "/dashboard/assets/app.js" in r.text, r.text[:500]  # followed the redirect
        cookie = s.cookies.get("strata_session")
        assert cookie, s.cookies
        # Asked once: the session cookie opens the page again, a forged one does not.
        assert s.get(g.endpoint + "/dashboard", timeout=10).status_code == 200
        forged = requests.get(g.endpoint + "/dashboard", cookies={"strata_session": "0" * 64}, timeout=10)
        assert forged.status_code == 401
        # The cookie reads the admin API (what the app fetches), a forged one does not.
        routes = s.get(g.endpoint + "/admin/routes", timeout=10)
        assert routes.status_code == 200 and "prod-us" in routes.text, routes.text[:300]
        assert s.get(g.endpoint + "/admin/overview", timeout=10).status_code == 200
        r = requests.get(g.endpoint + "/admin/overview", cookies={"strata_session": "0" * 64}, timeout=10)
        assert r.status_code == 401
        # Changes still want the key itself: the cookie alone refreshes nothing.
        assert s.post(g.endpoint + "/admin/discovery/refresh", timeout=10).status_code == 401
        # Tenants are refused.
        r = requests.get(g.endpoint + "/admin/routes", headers={"Authorization": f"Bearer {KEYS['full']}"}, timeout=10)
        assert r.status_code == 403, r.text
    finally:
        g.stop()


def test_admin_surface_on_its_own_listener(sim, tmp_path):
    admin_port = free_port()
    text = config(sim, admin_extra=f"  listen: 127.0.0.1:{admin_port}\n  metrics: admin_key\n")
    g = Gateway(find_binary(), text, tmp_path)
    admin = f"http://127.0.0.1:{admin_port}"
    auth = {"Authorization": f"Bearer {ADMIN}"}
    try:
        # The public listener serves model calls and health, not the admin surface.
        assert chat(g, KEYS["region"]).status_code == 200
        assert requests.get(g.endpoint + "/readyz", timeout=10).status_code == 200
        for path in ("/metrics", "/dashboard", "/admin/routes"):
            r = requests.get(g.endpoint + path, headers=auth, timeout=10)
            assert r.status_code == 404, (path, r.status_code)
        # The admin listener serves them, and not model calls.
        assert requests.get(admin + "/admin/routes", headers=auth, timeout=10).status_code == 200
        assert requests.get(admin + "/dashboard", headers=auth, timeout=10).status_code == 200
        r = requests.post(admin + "/v1/chat/completions", headers={"Authorization": f"Bearer {KEYS['region']}"},
                          json={"model": "micro", "messages": [{"role": "user", "content": "x"}]}, timeout=10)
        assert r.status_code == 404
        # metrics: admin_key.
        assert requests.get(admin + "/metrics", timeout=10).status_code == 401
        r = requests.get(admin + "/metrics", headers=auth, timeout=10)
        assert r.status_code == 200 and "strata_requests_total" in r.text
        client = OpenAI(base_url=g.endpoint + "/v1", api_key=KEYS["full"], max_retries=0)
        assert client.chat.completions.create(model="micro", messages=[{"role": "user", "content": "y"}],
                                              max_tokens=8).choices[0].message.content
    finally:
        g.stop()
