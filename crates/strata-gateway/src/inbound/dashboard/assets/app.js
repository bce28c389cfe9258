// Strata's dashboard: reads the admin API with the session cookie and updates each section in
// place. No framework, no build step; every value goes into the page as text, never as HTML.
"use strict";

const REFRESH_MS = 5000;
const MATRIX_REFRESH_MS = 15000;
const PAGE = 40;

// ---- helpers -------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function replace(id, ...nodes) {
  const target = document.getElementById(id);
  if (target) target.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

function table(headers, rows, attrs) {
  return el("table", attrs || {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
    el("tbody", {}, rows));
}

function td(value, cls) {
  return el("td", { class: cls }, value);
}

function num(n) {
  return td(n === undefined || n === null ? "–" : String(n), "num");
}

function usd(x) {
  return x === undefined || x === null ? "–" : "$" + Number(x).toFixed(4);
}

function ago(unixSeconds, now) {
  if (!unixSeconds) return "never";
  const s = Math.max(0, (now || Date.now() / 1000) - unixSeconds);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

function inTime(unixSeconds, now) {
  const s = unixSeconds - now;
  if (s <= 0) return "due now";
  if (s < 90) return "in " + Math.round(s) + " s";
  return "in " + Math.round(s / 60) + " min";
}

function card(key, value, sub, cls) {
  return el("div", { class: "card" },
    el("div", { class: "k", text: key }),
    el("div", { class: "v " + (cls || ""), text: value }),
    sub ? el("div", { class: "s", text: sub }) : null);
}

function bar(used, limit) {
  if (!limit) return el("span", { class: "muted", text: used + " (no limit)" });
  const ratio = Math.min(1, used / limit);
  const b = el("span", { class: "bar" + (ratio > 0.8 ? " high" : "") }, el("span", {}));
  b.firstChild.style.width = Math.round(ratio * 100) + "%";
  return el("span", {}, b, `${used} / ${limit}`);
}

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (r.status === 401) {
    // The session ended: the page shows the sign-in form again.
    window.location.reload();
    throw new Error("signed out");
  }
  if (!r.ok) {
    let message = r.status + " " + r.statusText;
    try {
      const body = await r.json();
      message = (body.error && body.error.message) || message;
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return r.json();
}

function setStatus(text, bad) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.className = bad ? "bad" : "";
}

// ---- overview ------------------------------------------------------------------------------

let overview = null;

function describeEvent(e) {
  const what = e.event.replace(/_/g, " ");
  const subject = e.model || e.profile || e.name || e.arn || "";
  return `${what} ${subject}`.trim();
}

async function refreshOverview() {
  const o = await api("/admin/overview");
  overview = o;
  const s = o.scans;
  const scanned = `${s.accounts} accounts × ${s.regions} regions`;
  const freshness = `${s.fresh} fresh · ${s.stale} stale · ${s.failed} failed`;
  const round = o.last_round;
  const errorRate = o.last_minute.requests ? Math.round((100 * o.last_minute.errors) / o.last_minute.requests) + "% errors" : "no requests";
  replace("overview-cards",
    card("Scans", `${s.total}`, `${scanned}; ${freshness}`, s.stale + s.failed ? "warn" : "ok"),
    card("Oldest / newest scan", s.oldest_scan_at ? ago(s.oldest_scan_at, o.now) : "none yet",
      s.newest_scan_at ? "newest " + ago(s.newest_scan_at, o.now) : ""),
    card("Last scan round", round ? ago(round.finished_at, o.now) : (o.discovery_enabled ? "not finished yet" : "discovery off"),
      round ? `${round.scanned} scanned in ${round.duration_ms} ms, ${round.failed} failed, ${round.events} changes` +
        (o.next_scan_at ? `; next ${inTime(o.next_scan_at, o.now)}` : "") : (o.role ? "role: " + o.role : "")),
    card("Models available", `${o.models_available}`, `${o.profiles_available} inference profiles, ${o.imported_models} imported models`),
    card("Routing", `${o.candidates} candidates`, `${o.logical_models.length} logical models, ${o.tenants.length} tenants`),
    card("Requests / min", `${o.last_minute.requests}`, `${o.last_minute.errors} errors (${errorRate}); ${o.last_minute.tokens} tokens`,
      o.last_minute.errors ? "warn" : ""),
    card("Baseline / min", `${o.baseline_last_minute}`, "requests the baseline answered"),
    card("Spend today (UTC)", usd(o.spend_today_usd), o.requests_today === null ? "usage store unreadable" : `${o.requests_today} requests today`),
  );
  replace("overview-problems", s.problems.length
    ? table(["account", "region", "state", "since", "error"], s.problems.map((p) => el("tr", {},
        td(p.account), td(p.region), td(p.state, "bad"), td(ago(p.failed_at, o.now)), td(p.error))))
    : el("p", { class: "ok", text: "Every scan is fresh." }));
  replace("overview-events", o.events.length
    ? table(["when", "account", "region", "change"], o.events.map((e) => el("tr", {},
        td(ago(e.at, o.now)), td(e.account), td(e.region), td(describeEvent(e)))))
    : el("p", { class: "muted", text: "No catalog changes seen yet." }));
  fillExplorerPickers(o);
  renderTenants(o);
}

// ---- availability matrix -------------------------------------------------------------------

const matrixState = { text: "", account: "all", provider: "all", group: true, page: 0, data: null, loadedAt: 0 };

async function refreshMatrix(force) {
  if (!force && Date.now() - matrixState.loadedAt < MATRIX_REFRESH_MS && matrixState.data) return;
  const q = new URLSearchParams({ account: matrixState.account, provider: matrixState.provider, model: matrixState.text });
  const m = await api("/admin/matrix?" + q.toString());
  matrixState.data = m;
  matrixState.loadedAt = Date.now();
  const accounts = document.getElementById("m-account");
  if (accounts.options.length !== m.accounts.length + 1) {
    accounts.replaceChildren(el("option", { value: "all", text: "all accounts (merged)" }),
      ...m.accounts.map((a) => el("option", { value: a, text: a })));
    accounts.value = matrixState.account;
  }
  const providers = document.getElementById("m-provider");
  if (matrixState.provider === "all" && providers.options.length !== m.providers.length + 1) {
    providers.replaceChildren(el("option", { value: "all", text: "all" }),
      ...m.providers.map((p) => el("option", { value: p, text: p })));
  }
  renderMatrix();
}

function cellTitle(c, m) {
  const parts = [c.access.replace(/_/g, " ")];
  if (c.accounts) parts.push(`${c.accounts[0]} of ${c.accounts[1]} accounts may invoke it`);
  for (const p of c.geography || []) parts.push(`${p} → ${(m.profiles[p] || []).join(", ")}`);
  for (const p of c.global || []) parts.push(`${p} → ${(m.profiles[p] || []).join(", ")}`);
  if (c.why) parts.push(c.why);
  if (c.stale) parts.push("stale: from a scan that has since failed");
  return parts.join("\n");
}

function showCell(row, column, c, m) {
  const detail = document.getElementById("m-detail");
  const profiles = [...(c.geography || []), ...(c.global || [])];
  replace("m-detail",
    el("strong", { text: `${row.model} in ${column.region}` }),
    el("p", { text: `${c.symbol} ${c.access.replace(/_/g, " ")}` + (c.accounts ? ` — ${c.accounts[0]} of ${c.accounts[1]} accounts may invoke it` : "") }),
    c.why ? el("p", { class: "warn", text: c.why }) : null,
    c.stale ? el("p", { class: "warn", text: "Stale: the last scan of this region failed; this is the data from before." }) : null,
    profiles.length
      ? table(["profile", "kind", "may run in"], profiles.map((p) => el("tr", {},
          td(p), td((c.global || []).includes(p) ? "global" : "geography"), td((m.profiles[p] || []).join(", ")))))
      : el("p", { class: "muted", text: "No inference profile from this region." }));
  detail.hidden = false;
}

function renderMatrix() {
  const m = matrixState.data;
  if (!m) return;
  const rows = m.rows;
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  matrixState.page = Math.min(matrixState.page, pages - 1);
  const shown = rows.slice(matrixState.page * PAGE, (matrixState.page + 1) * PAGE);
  document.getElementById("m-count").textContent =
    `${rows.length} models × ${m.columns.length} regions` + (m.account === "all" ? `, merged over ${m.accounts.length} accounts` : `, account ${m.account}`);
  const head = el("tr", {}, el("th", { text: "model" }),
    m.columns.map((c) => el("th", { class: "region " + c.state, title: c.state === "fresh" ? `scanned ${ago(c.scanned_at)}` : `${c.state}: ${c.error || ""}`, text: c.region })));
  const body = [];
  let group = null;
  for (const row of shown) {
    if (matrixState.group && row.provider !== group) {
      group = row.provider;
      body.push(el("tr", { class: "group" }, el("td", { colspan: m.columns.length + 1, text: group || "(no provider)" })));
    }
    body.push(el("tr", { "data-model": row.model }, td(row.model),
      row.cells.map((c, i) => {
        const column = m.columns[i];
        if (!c) return el("td", { class: "cell", "data-region": column.region, text: "·" });
        return el("td", {
          class: `cell a-${c.access}` + (c.stale ? " stale" : ""),
          "data-region": column.region,
          "data-access": c.access,
          title: cellTitle(c, m),
          onclick: () => showCell(row, column, c, m),
        }, c.symbol,
        (c.geography || []).length ? el("span", { class: "badge geo", text: "G" }) : null,
        (c.global || []).length ? el("span", { class: "badge glob", text: "W" }) : null);
      })));
  }
  replace("m-table", rows.length
    ? el("table", { class: "matrix", id: "matrix-table" }, el("thead", {}, head), el("tbody", {}, body))
    : el("p", { class: "muted", text: m.columns.length ? "No model matches the filters." : "Nothing scanned yet." }));
  replace("m-pager", pages > 1 ? [
    el("button", { text: "‹ previous", disabled: matrixState.page === 0, onclick: () => { matrixState.page--; renderMatrix(); } }),
    el("span", { text: `page ${matrixState.page + 1} of ${pages}` }),
    el("button", { text: "next ›", disabled: matrixState.page >= pages - 1, onclick: () => { matrixState.page++; renderMatrix(); } }),
  ] : []);
}

function wireMatrixFilters() {
  let timer = null;
  document.getElementById("m-text").addEventListener("input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { matrixState.text = e.target.value.trim(); matrixState.page = 0; refreshMatrix(true).catch(report); }, 250);
  });
  document.getElementById("m-account").addEventListener("change", (e) => {
    matrixState.account = e.target.value; matrixState.page = 0; refreshMatrix(true).catch(report);
  });
  document.getElementById("m-provider").addEventListener("change", (e) => {
    matrixState.provider = e.target.value; matrixState.page = 0; refreshMatrix(true).catch(report);
  });
  document.getElementById("m-group").addEventListener("change", (e) => {
    matrixState.group = e.target.checked; renderMatrix();
  });
}

// ---- route explorer ------------------------------------------------------------------------

function fillExplorerPickers(o) {
  const tenants = document.getElementById("x-tenant");
  const models = document.getElementById("x-model");
  const tenantNames = o.tenants.map((t) => t.name);
  if ([...tenants.options].map((x) => x.value).join("\n") !== tenantNames.join("\n")) {
    const keep = tenants.value;
    tenants.replaceChildren(...tenantNames.map((t) => el("option", { value: t, text: t })));
    if (tenantNames.includes(keep)) tenants.value = keep;
  }
  const tenant = o.tenants.find((t) => t.name === tenants.value);
  const usable = o.logical_models.filter((m) => !tenant || !tenant.models || tenant.models.includes(m));
  if ([...models.options].map((x) => x.value).join("\n") !== usable.join("\n")) {
    const keep = models.value;
    models.replaceChildren(...usable.map((m) => el("option", { value: m, text: m })));
    if (usable.includes(keep)) models.value = keep;
  }
  document.getElementById("x-residency").textContent = tenant ? `residency: ${tenant.residency}` : "";
}

function health(c) {
  if (c.cooling_down) return el("span", { class: "bad", text: `cooling down${c.cooldown_left_seconds ? ` (${c.cooldown_left_seconds.toFixed(0)} s left)` : ""}` });
  return el("span", { class: "ok", text: "ready" });
}

function candidateRows(labels, byTarget, tenant, cls) {
  return labels.map((label, i) => {
    const c = byTarget.get(label) || { target: label, runs_in: [] };
    return el("tr", { class: cls }, num(i + 1), td(c.target), td(`${(c.layer || "").replace(/_/g, " ")} (${c.origin || "?"})` + (c.stale ? ", stale" : "")),
      td(c.runs_in.join(", ")), td((c.admitted_by || {})[tenant] || "–"), td(health(c)), num(c.in_flight),
      td(c.latency_ms === undefined ? "–" : c.latency_ms.toFixed(1) + " ms", "num"),
      td([c.rpm ? `${c.rpm} rpm` : null, c.tpm ? `${c.tpm} tpm` : null].filter(Boolean).join(", ") || "–"),
      num(c.weight), num(c.priority));
  });
}

async function refreshExplorer() {
  const tenant = document.getElementById("x-tenant").value;
  const model = document.getElementById("x-model").value;
  if (!tenant || !model) {
    replace("x-result", el("p", { class: "muted", text: "Pick a tenant and a model." }));
    return;
  }
  const q = new URLSearchParams({ tenant, model, explain: "true" });
  const report = await api("/admin/routes?" + q.toString());
  const m = report.models[0];
  const view = m && m.tenants.find((t) => t.tenant === tenant);
  if (!view) {
    replace("x-result", el("p", { class: "bad", text: `${tenant} may not use ${model}.` }));
    return;
  }
  const byTarget = new Map([...m.candidates, ...m.baseline].map((c) => [c.target, c]));
  const headers = ["#", "target", "kind", "may run in", "admitted by", "health", "in flight", "latency", "limits", "weight", "priority"];
  const exclusions = [
    ...(view.excluded || []).map((e) => ["residency", e]),
    ...(view.baseline_excluded || []).map((e) => ["baseline, residency", e]),
    ...(m.excluded || []).map((e) => ["catalog / access", e]),
    ...(m.baseline_excluded || []).map((e) => ["baseline", e]),
  ];
  // One row per reason: at fleet scale hundreds of targets share a handful of reasons.
  const groups = new Map();
  for (const [stage, e] of exclusions) {
    const key = stage + "\n" + e.reason;
    if (!groups.has(key)) groups.set(key, { stage, reason: e.reason, targets: [] });
    groups.get(key).targets.push(e.target);
  }
  replace("x-result",
    el("p", {}, `Strategy: ${m.strategy}. Residency: ${view.residency}` +
      (view.trust_catalog_destinations ? " (trusts the catalog's profile destinations)" : "") +
      (m.fallbacks.length ? `. Fallback models: ${m.fallbacks.join(", ")}` : "") +
      (m.imported_model ? `. Imported model: ${m.imported_model}` : "") + "."),
    el("h3", { text: `Candidates in order (${view.allowed.length})` }),
    view.allowed.length
      ? table(headers, candidateRows(view.allowed, byTarget, tenant, "candidate"), { id: "x-candidates" })
      : el("p", { class: "bad", text: "No candidate is allowed for this tenant." }),
    el("h3", { text: `Baseline (${view.baseline.length})` }),
    view.baseline.length
      ? table(headers, candidateRows(view.baseline, byTarget, tenant, "baseline"), { id: "x-baseline" })
      : el("p", { class: "muted", text: "No baseline target." }),
    el("h3", { text: `Excluded (${exclusions.length} targets, ${groups.size} reasons)` }),
    exclusions.length
      ? table(["why", "left out by", "targets", "which"], [...groups.values()].map((g) => el("tr", { class: "exclusion" },
          td(g.reason), td(g.stage), num(g.targets.length),
          td(el("details", {}, el("summary", { text: g.targets[0] + (g.targets.length > 1 ? ` and ${g.targets.length - 1} more` : "") }),
            el("ul", {}, g.targets.map((t) => el("li", { text: t }))))))), { id: "x-excluded" })
      : el("p", { class: "muted", text: "Nothing was left out." }));
}

// ---- traffic -------------------------------------------------------------------------------

function groupTable(groups, label) {
  return groups.length
    ? table([label, "requests", "errors", "tokens", "in flight"], groups.map((g) => el("tr", {},
        td(g.name), num(g.requests), td(String(g.errors), "num" + (g.errors ? " bad" : "")), num(g.tokens), num(g.in_flight))))
    : el("p", { class: "muted", text: "No traffic in the last minute." });
}

async function refreshTraffic() {
  const t = await api("/admin/traffic");
  replace("t-cards",
    card("Requests", `${t.total.requests}`, `in the last ${t.window_seconds} s`),
    card("Errors", `${t.total.errors}`, "", t.total.errors ? "bad" : "ok"),
    card("Tokens", `${t.total.tokens}`),
    card("In flight", `${t.in_flight}`, "upstream calls now"));
  replace("t-regions", groupTable(t.regions, "region"));
  replace("t-accounts", groupTable(t.accounts, "account"));
  replace("t-targets", t.targets.length
    ? table(["target", "account", "region", "attempts", "failed", "tokens", "in flight"], t.targets.map((x) => el("tr", {},
        td(x.target), td(x.account || "–"), td(x.region || "–"), num(x.requests),
        td(String(x.errors), "num" + (x.errors ? " bad" : "")), num(x.tokens), num(x.in_flight))))
    : el("p", { class: "muted", text: "No upstream calls in the last minute." }));
  replace("t-quotas", t.quotas.length
    ? table(["target", "quota RPM", "quota TPM", "attempts this minute", "headroom", "share in use"], t.quotas.map((q) => el("tr", {},
        td(q.target), td(q.rpm == null ? "–" : String(q.rpm), "num"), td(q.tpm == null ? "–" : String(q.tpm), "num"),
        td(bar(q.requests_last_minute, q.rpm)), td(q.headroom == null ? "–" : String(q.headroom), "num"),
        td(`${Math.round(q.share * 100)} %`, "num" + (q.share < 1 ? " bad" : "")))))
    : el("p", { class: "muted", text: "No upstream quotas known (Service Quotas unreadable, or no Bedrock targets)." }));
  replace("t-tenants", table(["tenant", "requests this minute (RPM)", "tokens this minute (TPM)", "errors", "spend today", "spend this month"],
    t.tenants.map((x) => el("tr", {}, td(x.tenant), td(bar(x.requests_last_minute, x.rpm_limit)), td(bar(x.tokens_last_minute, x.tpm_limit)),
      num(x.errors_last_minute),
      td(x.budget_day_usd ? [usd(x.spend_today_usd), " of ", usd(x.budget_day_usd)].join("") : usd(x.spend_today_usd)),
      td(x.budget_month_usd ? [usd(x.spend_month_usd), " of ", usd(x.budget_month_usd)].join("") : usd(x.spend_month_usd))))));
}

// ---- custom models and tenants ------------------------------------------------------------

async function refreshMore() {
  const c = await api("/admin/custom-models");
  const now = Date.now();
  const since = (ms) => (ms ? ago(ms / 1000, now / 1000) : "never");
  replace("c-models", c.targets.length
    ? table(["model", "target", "state", "last invocation", "cold starts", "keep-warm"], c.targets.map((t) => el("tr", {},
        td(t.model), td(t.target), td(t.state, t.state === "warm" ? "ok" : "warn"), td(since(t.last_invocation_ms)),
        num(t.cold_starts),
        td(t.keep_warm_interval_ms ? `every ${Math.round(t.keep_warm_interval_ms / 1000)} s idle (${t.keep_warm_calls} calls, last ${since(t.last_keep_warm_ms)})` : "off"))))
    : el("p", { class: "muted", text: "No logical model reaches an imported model." }));
}

function renderTenants(o) {
  replace("c-tenants", table(["tenant", "residency", "models", "accounts"], o.tenants.map((t) => el("tr", {},
    td(t.name), td(t.residency), td(t.models ? t.models.join(", ") : "all"), td(t.accounts ? t.accounts.join(", ") : "all")))));
}

// ---- the loop ------------------------------------------------------------------------------

const refreshers = {
  overview: () => Promise.resolve(),
  matrix: () => refreshMatrix(false),
  explorer: refreshExplorer,
  traffic: refreshTraffic,
  more: refreshMore,
};

let active = "overview";

function report(e) {
  setStatus("update failed: " + e.message, true);
}

async function tick() {
  try {
    await refreshOverview();
    await refreshers[active]();
    setStatus("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    report(e);
  }
}

function show(tab) {
  active = tab;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("section.tab")) s.classList.toggle("active", s.id === tab);
  if (window.location.hash !== "#" + tab) history.replaceState(null, "", "#" + tab);
  refreshers[tab]().catch(report);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.tab));
  wireMatrixFilters();
  for (const id of ["x-tenant", "x-model"]) {
    document.getElementById(id).addEventListener("change", () => {
      if (overview) fillExplorerPickers(overview);
      refreshExplorer().catch(report);
    });
  }
  const first = window.location.hash.slice(1);
  tick().then(() => { if (refreshers[first]) show(first); });
  setInterval(tick, REFRESH_MS);
});
