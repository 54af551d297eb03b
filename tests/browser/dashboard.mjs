// Opens kmirror's dashboard in headless Chromium (the system's, through playwright-core),
// waits until every chart has data points, checks that the lag figure shown is the one
// /status reports, and saves a screenshot.
//   node dashboard.mjs <dashboard url> <screenshot.png>
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node dashboard.mjs <dashboard url> <screenshot.png>");
  process.exit(2);
}
const executablePath = process.env.KMIRROR_CHROMIUM || "/usr/bin/chromium";
const statusUrl = new URL("status", url).href;
const deadline = (ms) => Date.now() + ms;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function status() {
  const res = await fetch(statusUrl, { cache: "no-store" });
  if (!res.ok) throw new Error(`/status answered HTTP ${res.status}`);
  return res.json();
}

// A fresh profile each run (playwright passes it to Chromium as --user-data-dir).
const profile = mkdtempSync(join(tmpdir(), "kmirror-chromium-"));
const browser = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  viewport: { width: 1440, height: 1000 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
let failed = false;
let page = null;
try {
  page = browser.pages()[0] || (await browser.newPage());
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  await page.goto(url, { waitUntil: "load" });

  // Every chart has points: lag at once, throughput and latency once records flow.
  const until = deadline(90_000);
  let points = {};
  for (;;) {
    points = await page.evaluate(() => ({
      lag: window.kmirrorDashboard.points("lag"),
      latency: window.kmirrorDashboard.points("latency"),
      throughput: window.kmirrorDashboard.points("throughput"),
    }));
    if (points.lag >= 8 && points.latency >= 3 && points.throughput >= 8) break;
    if (Date.now() > until) throw new Error(`charts did not fill: ${JSON.stringify(points)}`);
    await sleep(500);
  }
  console.log(`chart points: ${JSON.stringify(points)}`);
  const canvases = await page.locator(".chart canvas").count();
  if (canvases < 3) throw new Error(`expected 3 chart canvases, found ${canvases}`);

  // The lag figure equals /status's: read it between two /status answers that agree, after the
  // page has drawn a document at least as new as the first.
  const untilLag = deadline(60_000);
  for (;;) {
    const before = await status();
    await page.waitForFunction(
      (t) => window.kmirrorDashboard.status && window.kmirrorDashboard.status.time_ms >= t,
      before.time_ms, { timeout: 10_000 });
    const shown = await page.locator('[data-testid="flow-lag"]').allTextContents();
    const after = await status();
    const expected = before.flows.map((f) => f.lag.toLocaleString("en-US"));
    const stable = before.flows.every((f, i) => after.flows[i] && after.flows[i].lag === f.lag);
    if (stable && JSON.stringify(shown) === JSON.stringify(expected)) {
      console.log(`lag shown ${JSON.stringify(shown)} equals /status ${JSON.stringify(expected)}`);
      break;
    }
    if (Date.now() > untilLag) {
      throw new Error(`lag shown ${JSON.stringify(shown)} never matched /status ${JSON.stringify(expected)}`);
    }
    await sleep(300);
  }

  // The heartbeat latency figure shows a latency (heartbeats flow whether records do or not).
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="flow-heartbeat"]')]
      .some((e) => /^[0-9,]+ ms$/.test(e.textContent)),
    null, { timeout: 30_000 });
  const heartbeat = await page.locator('[data-testid="flow-heartbeat"]').allTextContents();
  console.log(`heartbeat latency shown: ${JSON.stringify(heartbeat)}`);

  // Tables and readiness are filled in.
  const rows = await page.locator("#partitions tr[data-topic]").count();
  if (rows < 1) throw new Error("the partitions table is empty");
  const clusters = await page.locator("#clusters tr").count();
  if (clusters < 2) throw new Error("the cluster health table is empty");
  const ready = await page.locator('[data-testid="readiness"]').textContent();
  console.log(`readiness badge: ${ready}; ${rows} partition row(s), ${clusters} cluster row(s)`);
  if (problems.length) throw new Error(problems.join("\n"));

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);
} catch (e) {
  failed = true;
  console.error(`browser test failed: ${e.message}`);
  // What the page looked like when it failed.
  if (page) {
    const failedShot = screenshot.replace(/\.png$/, "") + "-failed.png";
    await page.screenshot({ path: failedShot, fullPage: true }).catch(() => {});
    console.error(`screenshot of the failure: ${failedShot}`);
  }
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
