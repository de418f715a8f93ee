// Browser tests: headless Debian Chromium driven by playwright-core against a
// running raincast. Started by tests/integration/browser.rs, which passes:
//   RAINCAST_URL       base URL of the server under test
//   RAINCAST_PASSWORD  its admin password
//   ARTIFACTS          folder for screenshots
//   CHROMIUM           the browser binary (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";

const base = process.env.RAINCAST_URL;
const password = process.env.RAINCAST_PASSWORD;
const artifacts = process.env.ARTIFACTS || "browser-artifacts";
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

let passed = 0, failed = 0;
const consoleErrors = [];

/** An artifact screenshot for people to look at, not a check: a slow
 * machine that cannot take it in time gets a note, not a failed test. */
async function snapshot(page, options) {
  await page.screenshot({ timeout: 60_000, ...options }).catch((e) =>
    console.log(`# screenshot ${options.path} not taken: ${String(e.message || e).split("\n")[0]}`));
}

async function newPage(context) {
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(`${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
  return page;
}

async function test(name, fn) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await newPage(context);
  const started = performance.now();
  try {
    await fn(page, context);
    passed++;
    console.log(`ok - ${name} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split("\n").join("\n  ")}`);
  } finally {
    await snapshot(page, { path: `${artifacts}/${name.replace(/[^a-z0-9]+/gi, "-")}.png`, fullPage: true }).catch(() => {});
    await context.close();
  }
}

async function login(page, pw) {
  await page.goto(`${base}/admin/login`);
  await page.fill("#password", pw);
  await Promise.all([page.waitForLoadState("load"), page.click("#login-button")]);
}

await test("visitor picks a city and sees a probability", async (page) => {
  await page.goto(`${base}/`);
  assert.match(await page.title(), /rain tomorrow/i);
  await page.fill("#city-filter", "sydn");
  const visible = await page.locator("#city-list li:not([hidden])").count();
  assert.ok(visible >= 1 && visible <= 3, `filter left ${visible} cities`);
  await Promise.all([page.waitForURL(/\/forecast\/Sydney$/), page.click("#city-list li:not([hidden]) >> text=Sydney >> nth=0")]);
  const prob = await page.textContent("#probability");
  assert.match(prob, /^\s*\d{1,3}\s*%\s*$/, `probability text: ${prob}`);
  assert.ok(await page.locator("svg.chart").count() >= 1, "charts render");
});

await test("the numbers are there without JavaScript", async (page, context) => {
  const noJs = await browser.newContext({ javaScriptEnabled: false });
  const p = await noJs.newPage();
  await p.goto(`${base}/forecast/Sydney`);
  assert.match(await p.textContent("#probability"), /\d+\s*%/);
  await snapshot(p, { path: `${artifacts}/no-javascript.png`, fullPage: true });
  await noJs.close();
});

await test("API docs: try the forecast endpoint in the console", async (page) => {
  const offsite = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) offsite.push(r.url()); });
  const errorsBefore = consoleErrors.length;
  await page.goto(`${base}/api/docs`);
  await page.click("#open-console");
  // The forecast operation: open it, Try it out, a location, Execute.
  const op = page.locator(".opblock.opblock-get", { has: page.locator('[data-path="/api/v1/forecast/{location}"]') });
  await op.locator(".opblock-summary-control").click();
  await op.locator("button.try-out__btn").click();
  await op.locator('tr[data-param-name="location"] select').selectOption("Sydney");
  await op.locator("button.execute").click();
  const live = op.locator(".live-responses-table");
  await live.waitFor({ timeout: 30_000 });
  assert.equal((await live.locator("tbody td.response-col_status").first().textContent()).trim(), "200");
  const body = JSON.parse(await live.locator("tbody .response-col_description pre").first().textContent());
  assert.equal(body.location, "Sydney");
  assert.ok(body.probability >= 0 && body.probability <= 1, `probability ${body.probability}`);
  assert.equal(body.kind, "forecast");
  // The request went to this server, and nothing else was fetched.
  assert.equal((await op.locator(".request-url pre").textContent()).trim(), `${base}/api/v1/forecast/Sydney`);
  assert.deepEqual(offsite, [], "requests to other origins");
  assert.deepEqual(consoleErrors.slice(errorsBefore), [], "console errors (a CSP violation shows here)");
  await snapshot(page, { path: `${artifacts}/api-console.png`, fullPage: true });
});

await test("admin: wrong password refused, login, train, new version listed", async (page) => {
  await page.goto(`${base}/admin`);
  assert.match(page.url(), /\/admin\/login$/, "redirected to the login");
  await login(page, "not-the-password");
  assert.ok(await page.locator("#login-error").isVisible(), "wrong password is refused");
  // After a failure, this address waits half a second before the next try.
  await page.waitForTimeout(700);
  await login(page, password);
  assert.match(page.url(), /\/admin$/);
  await page.goto(`${base}/admin/models`);
  const before = await page.locator("#models tbody tr").count();
  await page.goto(`${base}/admin`);
  await Promise.all([page.waitForURL(/\/admin\/runs\/\d+$/), page.click("#run-train")]);
  await page.waitForSelector("#live-run[data-done=true]", { timeout: 240_000 });
  assert.equal((await page.textContent("#live-status")).trim(), "succeeded");
  assert.match(await page.textContent("#live-log"), /registered version \d+/);
  await page.goto(`${base}/admin/models`);
  const after = await page.locator("#models tbody tr").count();
  assert.equal(after, before + 1, "the new version is in the models table");
});

await test("a POST without a CSRF token is refused", async (page) => {
  await login(page, password);
  const status = await page.evaluate(async () => {
    const r = await fetch("/admin/jobs/scrape", { method: "POST", body: new URLSearchParams({}), redirect: "manual" });
    return r.status;
  });
  assert.equal(status, 403);
  const forged = await page.evaluate(async () => {
    const r = await fetch("/admin/rollback", { method: "POST", body: new URLSearchParams({ csrf: "forged", reason: "x" }), redirect: "manual" });
    return r.status;
  });
  assert.equal(forged, 403);
});

await test("an admin subscribes a webhook through the alerts form", async (page) => {
  await login(page, password);
  await page.goto(`${base}/admin/alerts`);
  await page.selectOption("#al-location", "SydneyAirport");
  await page.fill("#al-chance", "55");
  await page.fill("#al-url", "https://ntfy.example.org/a-rather-long-topic-name-for-the-garden-rain-alerts-of-the-house");
  await page.fill("#al-secret", "correct horse battery staple");
  await page.selectOption("#al-format", "text");
  await page.uncheck('input[name="issues"][value="day_before"]');
  await Promise.all([page.waitForURL(`${base}/admin/alerts`), page.click("#add-subscription button[type=submit]")]);
  const row = await page.textContent("#subscriptions tbody tr");
  assert.match(row, /Sydney Airport/);
  assert.match(row, /more than 1 mm at 55\s%/);
  assert.match(row, /morning, afternoon/);
  assert.match(row, /text/);
  // The city page links its feeds: Atom in the head, the calendar visibly.
  await page.goto(`${base}/forecast/SydneyAirport`);
  assert.equal(await page.getAttribute('link[rel="alternate"][type="application/atom+xml"]', "href"),
               "/forecast/SydneyAirport/feed.atom");
  assert.ok(await page.isVisible("#calendar-link"), "the calendar link is visible");
  const ics = await page.evaluate(async () => (await fetch("/forecast/SydneyAirport/calendar.ics")).text());
  assert.match(ics, /^BEGIN:VCALENDAR/);
});

await test("every page loads without console errors", async (page) => {
  await login(page, password);
  consoleErrors.length = 0; // earlier tests provoke 401 and 403 on purpose
  const pages = ["/", "/forecast/Sydney", "/forecast/Darwin", "/api/docs", "/admin", "/admin/runs",
                 "/admin/runs/1", "/admin/models", "/admin/models/1", "/admin/compare?a=1&b=2", "/admin/data",
                 "/admin/alerts"];
  for (const path of pages) {
    const resp = await page.goto(`${base}${path}`);
    assert.ok(resp.status() < 400, `${path} answered ${resp.status()}`);
    await page.waitForLoadState("networkidle");
  }
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/forecast/Sydney`);
  await snapshot(page, { path: `${artifacts}/phone-forecast.png`, fullPage: true });
  // The station × field grid is wide: it scrolls in its own box, the page does not.
  await page.goto(`${base}/admin/data`);
  const widths = await page.evaluate(() => ({
    page: document.documentElement.scrollWidth,
    grid: document.querySelector("#field-health").scrollWidth,
    box: document.querySelector(".scroll-box").clientWidth,
  }));
  assert.ok(widths.page <= 390, `the data page is ${widths.page}px wide on a 390px phone`);
  assert.ok(widths.grid > widths.box, "the grid should scroll inside its box");
  await snapshot(page, { path: `${artifacts}/phone-data.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(`${base}/admin/models/1`);
  assert.ok(await page.locator("svg.reliability").count() === 1, "no reliability diagram");
  assert.ok(await page.locator("table.reliability tbody tr").count() === 10, "no reliability table");
  await snapshot(page, { path: `${artifacts}/model.png`, fullPage: true });
  assert.deepEqual(consoleErrors, []);
});

await test("admin console: schedules, run summary, run and model linked, compare, downloads", async (page) => {
  await login(page, password);
  await page.goto(`${base}/admin`);
  for (const k of ["scrape", "train", "refresh"]) {
    assert.equal(await page.locator(`#schedule-${k}`).count(), 1, `no ${k} schedule row`);
  }
  assert.match(await page.textContent("#schedule-scrape .next-run"), /AEST|not scheduled/);
  // The version trained from the console (an earlier test) links to its run, and back.
  await page.goto(`${base}/admin/models`);
  const newest = (await page.textContent("#models tbody tr:first-child td:first-child a")).trim();
  await page.goto(`${base}/admin/models/${newest.slice(1)}`);
  await Promise.all([page.waitForURL(/\/admin\/runs\/\d+$/), page.click("a.trained-by >> nth=0")]);
  assert.equal((await page.textContent("#trained-model a")).trim(), `model version ${newest.slice(1)}`);
  // A readable summary; the JSON behind a toggle.
  assert.ok(await page.locator("#run-summary dt").count() >= 5, "summary facts");
  assert.equal(await page.locator("#summary-json").isVisible(), false, "JSON hidden at first");
  await page.click("details.summary-json summary");
  assert.ok(await page.locator("#summary-json").isVisible(), "JSON shown after the toggle");
  // Downloads: the card, then the model whose SHA-256 the card states.
  await page.goto(`${base}/admin/models/${newest.slice(1)}`);
  const [cardDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-card")]);
  const card = JSON.parse(readFileSync(await cardDl.path(), "utf8"));
  assert.equal(`v${card.version}`, newest);
  assert.ok(card.parameters && card.windows.test && card.metrics.test && card.feature_schema.features.length > 0, "card fields");
  const [modelDl] = await Promise.all([page.waitForEvent("download"), page.click("#download-model")]);
  const sha = createHash("sha256").update(readFileSync(await modelDl.path())).digest("hex");
  assert.equal(sha, card.checksum.model, "the model file matches the card's checksum");
  // Side by side, with a parameter diff and a ROC legend with swatches.
  await page.goto(`${base}/admin/compare?a=1&b=2`);
  const boxes = await page.locator(".compare-grid > section").evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON()));
  assert.equal(boxes.length, 2);
  assert.ok(Math.abs(boxes[0].top - boxes[1].top) < 1 && boxes[1].left > boxes[0].right - 1, "side by side");
  assert.ok(await page.locator("#param-diff tr.changed").count() >= 1, "the seed differs");
  assert.equal(await page.locator('svg.roc line[stroke-width="3"]').count(), 2, "a swatch per curve");
  await snapshot(page, { path: `${artifacts}/compare.png`, fullPage: true });
});

// Phone-first: no page scrolls sideways, at a 390 px phone or a 1280 px
// desktop; a screenshot of every page at both widths is kept.
const everyPage = [
  ["home", "/"], ["forecast-sydney", "/forecast/Sydney"], ["forecast-badgeryscreek", "/forecast/BadgerysCreek"],
  ["api-docs", "/api/docs"], ["admin-dashboard", "/admin"], ["admin-runs", "/admin/runs"],
  ["admin-run", "/admin/runs/1"], ["admin-models", "/admin/models"], ["admin-model", "/admin/models/1"],
  ["admin-compare", "/admin/compare?a=1&b=2"], ["admin-data", "/admin/data"],
  ["admin-alerts", "/admin/alerts"],
  ["admin-evaluate", "/admin/models/1/evaluate?from=2017-01-01&to=2017-06-24"],
];
for (const width of [390, 1280]) {
  await test(`no page scrolls sideways at ${width} px`, async (page, context) => {
    await page.setViewportSize({ width, height: 900 });
    // The login page, logged out.
    const pages = [["admin-login", "/admin/login"], ...everyPage];
    const wide = [];
    for (const [name, path] of pages) {
      if (name === "admin-dashboard") await login(page, password);
      const resp = await page.goto(`${base}${path}`);
      assert.ok(resp.status() < 400, `${path} answered ${resp.status()}`);
      const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }));
      if (m.scroll > m.inner) wide.push(`${path}: ${m.scroll}px wide in a ${m.inner}px window`);
      await snapshot(page, { path: `${artifacts}/w${width}-${name}.png`, fullPage: true });
    }
    assert.deepEqual(wide, [], "pages scroll sideways");
  });
}

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
