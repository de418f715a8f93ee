// At one moment of a simulated fortnight: each city page leads with the rain
// day under way, whose window is still open, and shows the next rain day's
// day-before forecast exactly when it has been issued. Started by
// tests/integration/timemachine.rs, which passes:
//   RAINCAST_URL  base URL of the server under test
//   NOW           the simulated moment (RFC 3339)
//   EXPECT        JSON: [{location, rain_day, next_day|null}]
//   CHROMIUM      the browser binary (default /usr/bin/chromium)
import { chromium } from "playwright-core";
import assert from "node:assert/strict";

const base = process.env.RAINCAST_URL;
const now = Date.parse(process.env.NOW);
const expect = JSON.parse(process.env.EXPECT);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = 0;
try {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  for (const c of expect) {
    try {
      const res = await page.goto(`${base}/forecast/${c.location}`);
      assert.equal(res.status(), 200);
      const head = page.locator("#headline");
      assert.equal(await head.count(), 1, "a current forecast leads the page");
      assert.ok(await head.isVisible());
      const end = Date.parse(await head.getAttribute("data-window-end"));
      assert.ok(end > now, `its window closed at ${new Date(end).toISOString()}, before ${process.env.NOW}`);
      assert.equal(await head.getAttribute("data-rain-day"), c.rain_day, "the rain day under way");
      assert.match(await page.locator("#window").innerText(), /closes at .*in about \d+ h|within the hour/);
      const next = page.locator("#next-day");
      if (c.next_day === null) {
        assert.equal(await next.count(), 0, "no next-day forecast before it is issued");
      } else {
        assert.equal(await next.count(), 1, "the next rain day's day-before forecast");
        assert.equal(await next.getAttribute("data-rain-day"), c.next_day);
      }
      console.log(`ok - ${c.location} at ${process.env.NOW}`);
    } catch (e) {
      failed++;
      console.log(`not ok - ${c.location} at ${process.env.NOW}\n  ${String(e && e.stack || e).split("\n").join("\n  ")}`);
    }
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
