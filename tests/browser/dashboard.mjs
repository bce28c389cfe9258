// Drives the dashboard in Debian's chromium (playwright-core, no bundled browser) and prints what
// it saw as one JSON object; tests/clients/test_dashboard_browser.py asserts on it.
// Usage: node dashboard.mjs GATEWAY_URL ADMIN_KEY TENANT MODEL ARTIFACTS_DIR
import { chromium } from "playwright-core";
import path from "node:path";

const [gateway, adminKey, tenant, model, artifacts] = process.argv.slice(2);
const seen = { console_errors: [], failed_responses: [], steps: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  page.on("console", (m) => { if (m.type() === "error") seen.console_errors.push(m.text()); });
  page.on("response", (r) => { if (r.status() >= 400) seen.failed_responses.push(`${r.status()} ${new URL(r.url()).pathname}`); });
  page.on("pageerror", (e) => seen.console_errors.push(String(e)));
  page.setDefaultTimeout(20000);

  // Sign in with the form.
  const first = await page.goto(gateway + "/dashboard");
  seen.first_status = first.status();
  seen.csp = (await first.headerValue("content-security-policy")) || "";
  await page.fill('input[name="key"]', adminKey);
  await Promise.all([page.waitForURL("**/dashboard"), page.click('button[type="submit"]')]);
  await page.waitForSelector("#overview-cards .card");
  seen.overview_cards = await page.$$eval("#overview-cards .card", (cards) => cards.map((c) => c.innerText.replace(/\s+/g, " ")));
  await page.screenshot({ path: path.join(artifacts, "dashboard-overview.png"), fullPage: true });
  seen.steps.push("overview");

  // The availability matrix for the demo fleet.
  await page.click('#tabs button[data-tab="matrix"]');
  await page.waitForSelector("#matrix-table td.cell[data-access]");
  seen.matrix_cells = await page.$$eval("#matrix-table tr[data-model]", (rows) => rows.flatMap((r) =>
    [...r.querySelectorAll("td.cell[data-access]")].map((c) => ({
      model: r.dataset.model, region: c.dataset.region, access: c.dataset.access, text: c.innerText.trim(),
    }))));
  seen.matrix_regions = await page.$$eval("#matrix-table th.region", (ths) => ths.map((t) => t.innerText.trim()));
  // Filter on a model name and one account.
  await page.fill("#m-text", "claude");
  await page.waitForFunction(() => [...document.querySelectorAll("#matrix-table tr[data-model]")]
    .every((r) => r.dataset.model.includes("claude")));
  seen.filtered_models = await page.$$eval("#matrix-table tr[data-model]", (rows) => rows.map((r) => r.dataset.model));
  await page.selectOption("#m-account", "prod-eu");
  await page.waitForFunction(() => document.getElementById("m-count").innerText.includes("account prod-eu"));
  await page.click("#matrix-table td.cell[data-access]");
  seen.cell_detail = await page.innerText("#m-detail");
  await page.screenshot({ path: path.join(artifacts, "dashboard-matrix.png"), fullPage: true });
  seen.steps.push("matrix");

  // The route explorer: the EU tenant and a model.
  await page.click('#tabs button[data-tab="explorer"]');
  await page.selectOption("#x-tenant", tenant);
  await page.selectOption("#x-model", model);
  await page.waitForSelector("#x-candidates tr.candidate");
  await page.waitForSelector("#x-excluded tr.exclusion");
  const rows = (sel) => page.$$eval(sel, (trs) => trs.map((tr) => [...tr.cells].map((c) => c.innerText.trim())));
  seen.residency = await page.innerText("#x-residency");
  seen.candidates = await rows("#x-candidates tr.candidate");
  seen.exclusions = await rows("#x-excluded tr.exclusion");
  await page.screenshot({ path: path.join(artifacts, "dashboard-explorer.png"), fullPage: true });
  seen.steps.push("explorer");

  // Traffic (the test sent requests before starting this script).
  await page.click('#tabs button[data-tab="traffic"]');
  await page.waitForSelector("#t-targets table");
  seen.traffic_targets = await rows("#t-targets tbody tr");
  seen.traffic_tenants = await rows("#t-tenants tbody tr");
  await page.screenshot({ path: path.join(artifacts, "dashboard-traffic.png"), fullPage: true });
  seen.steps.push("traffic");
} catch (e) {
  seen.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(seen));
