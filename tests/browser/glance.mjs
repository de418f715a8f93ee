// Pages that read at a glance (issue 26, part 4), measured in headless
// Debian Chromium driven by playwright-core against a running raincast.
// Started by tests/integration/glance.rs, which passes:
//   RAINCAST_URL       base URL of the server under test
//   RAINCAST_PASSWORD  its admin password
//   ARTIFACTS          folder for screenshots
//   CHROMIUM           the browser binary (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { brokenInCells } from "./linebreaks.mjs";

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
const WIDTHS = [320, 390, 1280];
// A phone's first screen: the width, and the height of a common phone of it.
const PHONES = [[320, 568], [390, 844]];

/** An artifact screenshot for people to look at, not a check: a slow
 * machine that cannot take it in time gets a note, not a failed test. */
async function snapshot(page, options) {
  await page.screenshot({ timeout: 60_000, ...options }).catch((e) =>
    console.log(`# screenshot ${options.path} not taken: ${String(e.message || e).split("\n")[0]}`));
}

async function test(name, fn, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  try {
    await fn(page, context);
    passed++;
    console.log(`ok - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}\n  ${String(e && e.stack || e).split("\n").join("\n  ")}`);
    await snapshot(page, { path: `${artifacts}/glance-${name.replace(/[^a-z0-9]+/gi, "-")}.png`, fullPage: true }).catch(() => {});
  } finally {
    await context.close();
  }
}

async function login(page) {
  await page.goto(`${base}/admin/login`);
  await page.fill("#password", password);
  await Promise.all([page.waitForLoadState("load"), page.click("#login-button")]);
  assert.match(page.url(), /\/admin$/, "logged in");
}

// A city without current data (its forecast is stale, says the API).
let staleCity;
for (const l of await (await fetch(`${base}/api/v1/locations`)).json()) {
  const f = await (await fetch(`${base}/api/v1/forecast/${l.location}`)).json();
  if (f.stale === true) { staleCity = l; break; }
}
assert.ok(staleCity, "the served history has a city without current data");

// 1. No word or number broken inside a table cell, at every width, on every
//    page with tables; and no page scrolls sideways.
const tablePages = ["/", "/forecast/Sydney", `/forecast/${staleCity.location}`, "/api/docs",
  "/admin", "/admin/runs", "/admin/models", "/admin/models/1", "/admin/data",
  "/admin/compare?a=1&b=2", "/admin/models/1/evaluate?from=2017-01-01&to=2017-06-24"];
await test("no word or number is broken inside a table cell", async (page) => {
  await login(page);
  const broken = [], wide = [];
  let measured = 0;
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    for (const path of tablePages) {
      const resp = await page.goto(`${base}${path}`);
      assert.ok(resp.status() < 400, `${path} answered ${resp.status()}`);
      // Open every <details> so that the tables inside are laid out too.
      await page.evaluate(() => document.querySelectorAll("details").forEach((d) => { d.open = true; }));
      const r = await page.evaluate(brokenInCells);
      measured += await page.evaluate(() => document.querySelectorAll("td, th").length);
      broken.push(...r.map((b) => `${width} px ${path} ${b}`));
      const m = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: innerWidth }));
      if (m.scroll > m.inner) wide.push(`${width} px ${path}: ${m.scroll} px wide`);
      await snapshot(page, { path: `${artifacts}/glance-w${width}${path.replace(/[^a-z0-9]+/gi, "-")}.png`, fullPage: true });
    }
  }
  assert.ok(measured > 1000, `only ${measured} cells measured`);
  assert.deepEqual(broken, [], "words broken inside cells");
  assert.deepEqual(wide, [], "pages scroll sideways");
});

// The measure itself finds a broken number when there is one.
await test("the line-box measure catches a number broken across lines", async (page) => {
  await page.setContent(`<table><tr><td style="width:2ch; overflow-wrap:anywhere">0.6972</td><td style="white-space:nowrap">0.0907</td></tr></table>`);
  const r = await page.evaluate(brokenInCells);
  assert.equal(r.length, 1, r.join(" | "));
  assert.match(r[0], /"0\.6972" on \d lines/);
});

// 2. The phone home page's first screen: the search and >= 5 forecasts,
//    with no scroll box inside the page.
for (const [width, height] of PHONES) {
  await test(`the first screen of the home page at ${width}x${height} shows the search and five forecasts`, async (page) => {
    await page.goto(`${base}/`);
    const r = await page.evaluate(() => {
      const inView = (el) => { const b = el.getBoundingClientRect(); return b.height > 0 && b.top >= 0 && b.bottom <= innerHeight; };
      const forecasts = [...document.querySelectorAll("#city-list li")]
        .filter((li) => /\d+\s*%/.test(li.querySelector(".pct").textContent) && inView(li)).length;
      const nested = [...document.querySelectorAll("body *")].filter((el) => {
        const s = getComputedStyle(el);
        return ["auto", "scroll"].includes(s.overflowY) && el.scrollHeight > el.clientHeight + 1;
      }).map((el) => `${el.tagName}#${el.id}.${el.className}`);
      return { forecasts, search: inView(document.querySelector("#city-filter")), nested };
    });
    await snapshot(page, { path: `${artifacts}/glance-first-screen-${width}.png` });
    assert.ok(r.search, "the search is on the first screen");
    assert.ok(r.forecasts >= 5, `${r.forecasts} forecasts on the first screen`);
    assert.deepEqual(r.nested, [], "scroll boxes inside the page");
  }, { viewport: { width, height } });
}

await test("the city list is alphabetical and names each state", async (page) => {
  await page.goto(`${base}/`);
  const rows = await page.$$eval("#city-list li", (lis) => lis.map((li) => [li.querySelector(".name").textContent, li.querySelector(".state").textContent]));
  assert.equal(rows.length, 49);
  const names = rows.map((r) => r[0]);
  assert.deepEqual(names, [...names].sort((a, b) => a.localeCompare(b, "en")), "alphabetical");
  for (const [name, state] of rows) assert.match(state, /^(ACT|NSW|NT|QLD|SA|TAS|VIC|WA)$/, name);
});

// 3. Search: names, states and aliases; says when nothing matches; works
//    without JavaScript as a plain GET form.
const visibleNames = (page) => page.$$eval("#city-list li:not([hidden]) .name", (els) => els.map((e) => e.textContent));
await test("search matches names, states and aliases, and says when nothing matches", async (page) => {
  await page.goto(`${base}/`);
  await page.fill("#city-filter", "Melbourne");
  const melbourne = await visibleNames(page);
  assert.ok(melbourne.includes("Melbourne Airport") && melbourne.includes("Melbourne"), melbourne.join(", "));
  await page.fill("#city-filter", "Victoria");
  assert.equal((await visibleNames(page)).length, 10, "Victoria's ten stations");
  await page.fill("#city-filter", "ayers rock");
  assert.deepEqual(await visibleNames(page), ["Uluru"]);
  assert.equal(await page.isVisible("#no-match"), false);
  await page.fill("#city-filter", "Atlantis");
  assert.deepEqual(await visibleNames(page), []);
  assert.ok(await page.isVisible("#no-match"), "says nothing matches");
  assert.match(await page.textContent("#no-match"), /No city, state or airport matches “Atlantis”/);
  await page.fill("#city-filter", "");
  assert.equal((await visibleNames(page)).length, 49);
  assert.equal(await page.isVisible("#no-match"), false);
});

await test("search works without JavaScript", async (page) => {
  await page.goto(`${base}/`);
  await page.fill("#city-filter", "tullamarine");
  await Promise.all([page.waitForURL(/\?q=tullamarine/), page.press("#city-filter", "Enter")]);
  assert.deepEqual(await visibleNames(page), ["Melbourne Airport"]);
  assert.match(await page.textContent("#match-count"), /1 of 49 cities match “tullamarine”/);
  await page.goto(`${base}/?q=Melbourne`);
  const melbourne = await visibleNames(page);
  assert.ok(melbourne.includes("Melbourne Airport"), melbourne.join(", "));
  assert.equal(await page.inputValue("#city-filter"), "Melbourne");
  await page.goto(`${base}/?q=Atlantis`);
  assert.deepEqual(await visibleNames(page), []);
  assert.ok(await page.isVisible("#no-match"));
  const resp = await page.goto(`${base}/?q=${"x".repeat(101)}`);
  assert.equal(resp.status(), 400);
}, { javaScriptEnabled: false });

// Map targets: at least 24 px, and a click on a target's centre opens it.
for (const width of WIDTHS) {
  await test(`map targets at ${width} px are at least 24 px and their centres open them`, async (page) => {
    await page.goto(`${base}/`);
    const r = await page.evaluate(() => {
      const out = { n: 0, small: [], wrong: [] };
      for (const a of document.querySelectorAll("svg.map a")) {
        const c = a.querySelector("circle").getBoundingClientRect();
        if (c.width === 0) continue; // this map is not shown at this width
        out.n++;
        const href = a.getAttribute("href");
        if (c.width < 24 || c.height < 24) out.small.push(`${href} ${c.width.toFixed(1)} px`);
        const [x, y] = [c.left + c.width / 2, c.top + c.height / 2];
        a.scrollIntoView({ block: "center" });
        const c2 = a.querySelector("circle").getBoundingClientRect();
        const hit = document.elementFromPoint(c2.left + c2.width / 2, c2.top + c2.height / 2);
        const got = hit && hit.closest("a") && hit.closest("a").getAttribute("href");
        if (got !== href) out.wrong.push(`${href} opens ${got}`);
      }
      return out;
    });
    assert.ok(r.n >= 8, `${r.n} map targets shown`);
    assert.deepEqual(r.small, [], "targets under 24 px");
    assert.deepEqual(r.wrong, [], "a target's centre opens another");
    // A real click on the centre of Sydney's dot (or NSW's bubble) opens it.
    const target = width >= 640 ? 'svg.map-cities a[href="/forecast/Sydney"] circle' : 'svg.map-states a[href^="/?q=NSW"] circle';
    await page.locator(target).scrollIntoViewIfNeeded();
    const box = await page.locator(target).boundingBox();
    const want = width >= 640 ? /\/forecast\/Sydney$/ : /\/\?q=NSW#cities$/;
    await Promise.all([page.waitForURL(want), page.mouse.click(box.x + box.width / 2, box.y + box.height / 2)]);
    if (width >= 640) {
      assert.match(page.url(), /\/forecast\/Sydney$/);
    } else {
      assert.match(page.url(), /\/\?q=NSW#cities$/);
      const names = await visibleNames(page);
      assert.equal(names.length, 15, names.join(", "));
    }
  }, { viewport: { width, height: 900 } });
}

await test("a skip link leads past the header and map to the city list", async (page) => {
  await page.goto(`${base}/`);
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => ({ text: document.activeElement.textContent, href: document.activeElement.getAttribute("href") }));
  assert.deepEqual(first, { text: "Skip to the city list", href: "#cities" });
  assert.ok(await page.isVisible(".skip-link"), "visible when focused");
  await page.keyboard.press("Enter");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "city-filter", "the next stop is the search");
}, { viewport: { width: 390, height: 844 } });

// 4. A city without current data points to a station with data.
await test("a city without current data points to its nearest station with data", async (page) => {
  await page.goto(`${base}/`);
  const row = page.locator(`#city-list li.stale a[href="/forecast/${staleCity.location}"]`);
  const see = (await row.locator(".see").textContent()).replace(/^· see /, "");
  await page.goto(`${base}/forecast/${staleCity.location}`);
  const link = page.locator("#see-instead a");
  assert.equal((await link.textContent()).trim(), see);
  assert.match(await page.textContent("#see-instead"), /\d+\s*km away/);
  await Promise.all([page.waitForLoadState("load"), link.click()]);
  assert.match(await page.textContent("#probability"), /^\s*\d{1,3}\s*%\s*$/, "the station pointed to has a forecast");
});

// 5. Charts: text at 12 px or more on a 390 px phone, axis titles with their
//    units, the rain axis's day; the trust section speaks about the bin of
//    the forecast shown; chances shown within 5–95 %.
await test("charts read on a 390 px phone and the trust section speaks about the forecast shown", async (page) => {
  await page.goto(`${base}/forecast/Sydney`);
  const r = await page.evaluate(() => {
    const sizes = [...document.querySelectorAll("svg.chart text, svg.reliability text")]
      .filter((t) => t.getClientRects().length)
      .map((t) => parseFloat(getComputedStyle(t).fontSize) * t.ownerSVGElement.getScreenCTM().a);
    const axes = [...document.querySelectorAll("svg.chart text.unit")].map((t) => t.textContent);
    return { n: sizes.length, min: Math.min(...sizes), axes };
  });
  assert.ok(r.n > 30, `${r.n} chart texts`);
  assert.ok(r.min >= 12, `the smallest chart text is ${r.min.toFixed(1)} px`);
  assert.deepEqual(r.axes, ["Rain in the 24 h to 9 am (mm)", "Temperature (°C)", "Relative humidity at 3 pm (%)", "Pressure at 3 pm (hPa)"]);
  const shown = Number((await page.textContent("#probability")).match(/\d+/)[0]);
  assert.ok(shown >= 5 && shown <= 95, `${shown} % shown`);
  const api = await (await fetch(`${base}/api/v1/forecast/Sydney`)).json();
  assert.equal(shown, Math.min(95, Math.max(5, Math.round(api.probability * 100))), "the page bounds the API's exact value");
  const headline = await page.textContent("#trust-headline");
  const lo = Math.min(90, Math.floor(api.probability * 10) * 10);
  assert.ok(headline.startsWith(`Our forecast, ${shown}\u00a0%, is in the ${lo}–${lo + 10}\u00a0% bin`), headline);
  assert.match(await page.textContent("svg.reliability title"), /^(Sydney: when we said|All 49 cities, the model's test year)/);
  assert.equal(await page.locator("svg.reliability line.diagonal").getAttribute("stroke"), "#556");
}, { viewport: { width: 390, height: 844 } });

await test("the admin names the zone of its times", async (page) => {
  await login(page);
  const clocks = await page.textContent("#clocks");
  // The served app runs on a simulated clock (2017) on a real machine.
  assert.match(clocks, /simulated and reads \d+ \w+ 2017, \d\d:\d\d AEST/, clocks);
  assert.match(clocks, /real time, in UTC \(now \d+ \w+ \d{4}, \d\d:\d\d UTC\)/, clocks);
  assert.match(await page.textContent("#runs thead"), /Started \(UTC\)/);
});

// Compression and fingerprinted, immutable static files, as a browser gets them.
await test("static files are fingerprinted, immutable and compressed", async (page) => {
  const seen = [];
  page.on("response", async (r) => {
    if (new URL(r.url()).pathname.startsWith("/static/")) seen.push([new URL(r.url()).pathname, await r.allHeaders()]);
  });
  const doc = await page.goto(`${base}/`);
  assert.match((await doc.allHeaders())["content-encoding"] || "", /^(br|gzip)$/, "the page is compressed");
  await page.waitForLoadState("networkidle");
  const css = seen.find(([p]) => p.endsWith(".css"));
  const js = seen.find(([p]) => p.endsWith(".js"));
  for (const [path, h] of [css, js]) {
    assert.match(path, /^\/static\/app\.[0-9a-f]{12}\.(css|js)$/, "a content-hashed name");
    assert.equal(h["cache-control"], "public, max-age=31536000, immutable", path);
    assert.equal(h["content-encoding"], "br", path);
  }
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
