// The phone flow in a real Chromium, run inside a client namespace
// (`ip netns exec NS node THIS '<json>'`) so the gateway sees that namespace's address:
// open each step URL like a tapped bookmark, type user and code into the form, tap Open.
// Input: {"base":"https://10.201.0.1","sequence":[...],"user":"u1","secret":"BASE32"}
// Output, one JSON line: {"steps":[404,404,200],"status":200,"h1":"Open","ip":"10.200.1.2",
// "launchedMs":900,"ms":2100} (the browser's start and the whole flow, for slow-run diagnosis)
// or {"error":"..."}, printed as soon as the result page shows (closing the browser takes
// a while). The certificate is self-signed, so the context ignores HTTPS errors.
import process from "node:process";
import { generate } from "otplib";
import { chromium } from "playwright-core";

const { base, sequence, user, secret } = JSON.parse(process.argv[2] ?? "{}");
const out = (body) => process.stdout.write(`${JSON.stringify(body)}\n`);

const started = Date.now();
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  timeout: 20_000,
});
const launchedMs = Date.now() - started;
try {
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    isMobile: true,
    hasTouch: true,
    ignoreHTTPSErrors: true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const steps = [];
  for (const path of sequence) steps.push((await page.goto(base + path))?.status() ?? 0);
  const code = await generate({ secret, epoch: Math.floor(Date.now() / 1000) });
  await page.fill("#user", user);
  await page.fill("#code", code);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "POST"),
    page.tap("button[type=submit]"),
  ]);
  await page.waitForSelector("h1.ok, h1.bad");
  out({
    steps,
    status: response.status(),
    h1: await page.textContent("h1"),
    ip: (await page.textContent("#ip").catch(() => null)) ?? null,
    launchedMs,
    ms: Date.now() - started,
  });
} catch (error) {
  out({ error: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
} finally {
  await browser.close();
}
