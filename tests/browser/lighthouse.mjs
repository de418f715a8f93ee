// Lighthouse 12.2.3 (mobile emulation, the default) in Debian's headless
// Chromium against a running raincast. Started by tests/integration/lighthouse.rs,
// which passes:
//   RAINCAST_URL     base URL of the server under test
//   RAINCAST_COOKIE  an admin session cookie ("raincast_session=…") for the
//                    logged-in pages (sent as an extra header, like the CLI's
//                    --extra-headers)
//   PAGES            space-separated paths; a path starting with "admin:" is
//                    scored logged in
//   ARTIFACTS        folder for the reports (lighthouse-*.json)
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
//   MIN_SCORE        the lowest acceptable score per category (0.95)
//   STRICT_PAGES     space-separated paths (of PAGES) that must score 1.0 in
//                    every category
//   CATEGORIES       space-separated categories to score (default all four:
//                    performance accessibility best-practices seo)
//   SCORES           the scores' file name in ARTIFACTS (lighthouse-scores.json)
//   AUDITS           space-separated audit ids that must pass on every page
//                    (score >= 0.9, Lighthouse's pass mark; "not applicable"
//                    passes, as in Lighthouse's report)
// Prints one line per page and category and exits 1 when any score is lower.
import lighthouse from "lighthouse";
import * as chromeLauncher from "chrome-launcher";
import { mkdirSync, writeFileSync } from "node:fs";

const base = process.env.RAINCAST_URL;
const cookie = process.env.RAINCAST_COOKIE || "";
const artifacts = process.env.ARTIFACTS || "browser-artifacts";
const min = Number(process.env.MIN_SCORE || "0.95");
const pages = (process.env.PAGES || "/").split(/\s+/).filter(Boolean);
const strict = new Set((process.env.STRICT_PAGES || "").split(/\s+/).filter(Boolean));
const audits = (process.env.AUDITS || "").split(/\s+/).filter(Boolean);
mkdirSync(artifacts, { recursive: true });

// A fresh browser per page, as the lighthouse CLI does: no cookie from one
// page (the login form's nonce) reaches the next.
const launch = () => chromeLauncher.launch({
  chromePath: process.env.CHROMIUM || "/usr/bin/chromium",
  chromeFlags: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const categories = (process.env.CATEGORIES || "performance accessibility best-practices seo")
  .split(/\s+/).filter(Boolean);
const low = [];
const table = {};
for (const spec of pages) {
  const chrome = await launch();
  try {
    const admin = spec.startsWith("admin:");
    const path = admin ? spec.slice(6) : spec;
    const flags = {
      port: chrome.port, output: "json", logLevel: "error", onlyCategories: categories,
      extraHeaders: admin ? { Cookie: cookie } : undefined,
      // The server is on loopback and the pages load nothing late, so a
      // quarter of a second of quiet is as telling as Lighthouse's default
      // second; the scores come from the simulated (throttled) timings
      // either way. Each page's run took about 9 s with the defaults.
      pauseAfterFcpMs: 250, pauseAfterLoadMs: 250,
      networkQuietThresholdMs: 250, cpuQuietThresholdMs: 250,
    };
    const result = await lighthouse(`${base}${path}`, flags);
    const lhr = result.lhr;
    if (lhr.runtimeError) throw new Error(`${path}: ${lhr.runtimeError.code} ${lhr.runtimeError.message}`);
    if (admin && new URL(lhr.finalDisplayedUrl).pathname === "/admin/login" && path !== "/admin/login") {
      throw new Error(`${path}: redirected to the login; the session cookie was not accepted`);
    }
    const name = path.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "home";
    writeFileSync(`${artifacts}/lighthouse-${name}.json`, result.report);
    table[path] = {};
    for (const id of audits) {
      const a = lhr.audits[id];
      const ok = a && (a.scoreDisplayMode === "notApplicable" || (a.score !== null && a.score >= 0.9));
      table[path][id] = a ? (a.scoreDisplayMode === "notApplicable" ? "n/a" : a.score) : "missing";
      if (!ok) low.push(`${path} audit ${id}: ${a ? `${a.score} ${a.displayValue || ""}` : "not run"}`);
    }
    const floor = strict.has(spec) ? 1 : min;
    for (const c of categories) {
      const score = lhr.categories[c].score;
      table[path][c] = score;
      if (score === null || score < floor) {
        const failing = Object.values(lhr.audits)
          .filter((a) => a.score !== null && a.score < 1 && lhr.categories[c].auditRefs.some((r) => r.id === a.id && r.weight > 0))
          .map((a) => `${a.id} (${a.score})`);
        low.push(`${path} ${c} ${score}: ${failing.join(", ")}`);
      }
    }
    console.log(`${path.padEnd(40)} ${[...categories, ...audits].map((c) => `${c} ${table[path][c]}`).join("  ")}`);
  } finally {
    await chrome.kill();
  }
}
writeFileSync(`${artifacts}/${process.env.SCORES || "lighthouse-scores.json"}`, JSON.stringify(table, null, 2));
if (low.length) {
  console.log(`below ${min} (1 on ${[...strict].join(", ") || "no page"}), or failing a required audit:\n  ${low.join("\n  ")}`);
  process.exit(1);
}
console.log(`every category of every page scored >= ${min}`);
