// At moments of a simulated fortnight: each city page leads with the rain
// day under way, whose window is still open, and shows the next rain day's
// day-before forecast exactly when it has been issued. Started once by
// tests/integration/timemachine.rs, which passes:
//   RAINCAST_URL  base URL of the server under test
//   CHROMIUM      the browser binary (default /usr/bin/chromium)
// and then writes one line of JSON per moment to stdin:
//   {"now": RFC 3339, "expect": [{location, rain_day, next_day|null}]}
// For each line it prints "ok - …" or "not ok - …" per city, then
// "end ok" or "end failed N"; it exits when stdin closes. One browser serves
// every moment: launching Chromium for each of 42 moments cost about a
// minute of the suite.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { createInterface } from "node:readline";

const base = process.env.RAINCAST_URL;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

async function check(at, expect) {
  const now = Date.parse(at);
  let failed = 0;
  // A fresh context per moment: no cache or cookie carries over.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  try {
    const page = await context.newPage();
    for (const c of expect) {
      try {
        const res = await page.goto(`${base}/forecast/${c.location}`);
        assert.equal(res.status(), 200);
        const head = page.locator("#headline");
        assert.equal(await head.count(), 1, "a current forecast leads the page");
        assert.ok(await head.isVisible());
        const end = Date.parse(await head.getAttribute("data-window-end"));
        assert.ok(end > now, `its window closed at ${new Date(end).toISOString()}, before ${at}`);
        assert.equal(await head.getAttribute("data-rain-day"), c.rain_day, "the rain day under way");
        assert.match(await page.locator("#window").innerText(), /closes at .*in about \d+ h|within the hour/);
        const next = page.locator("#next-day");
        if (c.next_day === null) {
          assert.equal(await next.count(), 0, "no next-day forecast before it is issued");
        } else {
          assert.equal(await next.count(), 1, "the next rain day's day-before forecast");
          assert.equal(await next.getAttribute("data-rain-day"), c.next_day);
        }
        console.log(`ok - ${c.location} at ${at}`);
      } catch (e) {
        failed++;
        console.log(`not ok - ${c.location} at ${at}\n  ${String(e && e.stack || e).split("\n").join("\n  ")}`);
      }
    }
  } finally {
    await context.close();
  }
  return failed;
}

try {
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    let failed;
    try {
      const { now, expect } = JSON.parse(line);
      failed = await check(now, expect);
    } catch (e) {
      console.log(`not ok - ${String(e && e.stack || e)}`);
      failed = 1;
    }
    console.log(failed ? `end failed ${failed}` : "end ok");
  }
} finally {
  await browser.close();
}
