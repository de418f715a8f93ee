// Dev helper: report each page's width at 390 px and the elements that stick out.
// node widths.mjs URL PASSWORD path...
import { chromium } from "playwright-core";
const [base, password, ...paths] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu"] });
const ctx = await browser.newContext({ viewport: { width: 390, height: 844 } });
const page = await ctx.newPage();
await page.goto(`${base}/admin/login`);
await page.fill("#password", password);
await Promise.all([page.waitForLoadState("load"), page.click("#login-button")]);
for (const p of paths) {
  await page.goto(base + p);
  const r = await page.evaluate(() => {
    const w = innerWidth, out = [];
    for (const el of document.querySelectorAll("body *")) {
      const b = el.getBoundingClientRect();
      if (b.right > w + 0.5) {
        let anc = el.parentElement, inScroll = false;
        while (anc) { const o = getComputedStyle(anc).overflowX; if (o === "auto" || o === "scroll" || o === "hidden") { inScroll = true; break; } anc = anc.parentElement; }
        if (!inScroll) out.push(`${el.tagName.toLowerCase()}.${el.className && el.className.baseVal === undefined ? el.className : ""}#${el.id} right=${Math.round(b.right)}`);
      }
    }
    return { sw: document.documentElement.scrollWidth, w, out: out.slice(0, 8) };
  });
  console.log(p, r.sw, r.w, r.out.join(" | "));
  await page.screenshot({ path: `/tmp/dev17/${p.replace(/[^a-z0-9]+/gi, "-")}.png`, fullPage: true });
}
await browser.close();
