import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import { startListeningGateway, TEST_SEQUENCE, type ListeningGateway } from "../support/gateway.js";

/** Debian's chromium (scripts/ensure-system-deps.sh); required, so a missing browser fails loudly. */
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(import.meta.dirname, "..", "..", "test-output");
/** A mid-size phone (iPhone 12-15 class). */
const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
} as const;

describe("phone pages in a real browser", () => {
  let gw: ListeningGateway;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    gw = await startListeningGateway({ users: ["phone", "typo", "nojs"] });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  });
  afterAll(async () => {
    await browser.close();
    await gw.stop();
  });

  /** A fresh phone context whose console errors (CSP violations among them) are collected. */
  async function phone(options: { javaScriptEnabled?: boolean } = {}) {
    const context = await browser.newContext({ ...PHONE, ...options });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (message) => {
      // The decoy 404s and the 403 are expected and asserted by status; anything else is not.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
        errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    return { context, page, errors };
  }

  /** Opens the step URLs like tapped bookmarks; the last shows the form. */
  async function walk(page: Page): Promise<void> {
    for (const [index, path] of TEST_SEQUENCE.entries()) {
      const res = await page.goto(gw.url + path);
      expect(res?.status()).toBe(index < TEST_SEQUENCE.length - 1 ? 404 : 200);
    }
  }

  /** Fills and taps Open; resolves with the POST's status once the result page is shown. */
  async function submit(page: Page, user: string, code: string): Promise<number> {
    await page.fill("#user", user);
    await page.fill("#code", code);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST"),
      page.tap("button[type=submit]"),
    ]);
    // The challenge page's h1 has no class; the result pages' do.
    await page.waitForSelector("h1.ok, h1.bad");
    return response.status();
  }

  const codeFor = (user: string) => currentTotp(gw.secrets.get(user) ?? "", Date.now());

  async function close(context: BrowserContext, errors: string[]): Promise<void> {
    await context.close();
    expect(errors, "console errors (CSP violations?)").toEqual([]);
  }

  it("walks the bookmarks, types the code and sees the ports and a live countdown", async () => {
    const { context, page, errors } = await phone();
    await walk(page);

    // A numeric keypad, one-time-code autofill, and thumb-sized targets.
    expect(await page.getAttribute("#code", "inputmode")).toBe("numeric");
    expect(await page.getAttribute("#code", "autocomplete")).toBe("one-time-code");
    for (const selector of ["#user", "#code", "button[type=submit]"]) {
      const box = await page.locator(selector).boundingBox();
      expect(box?.height, selector).toBeGreaterThanOrEqual(48);
    }
    const csp = (await page.reload().then((r) => r?.headers()["content-security-policy"])) ?? "";
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    await page.screenshot({ path: join(SHOTS, "phone-challenge.png"), fullPage: true });

    expect(await submit(page, "phone", await codeFor("phone"))).toBe(200);
    expect(await page.textContent("h1")).toBe("Open");
    expect(await page.textContent("#ports")).toBe("tcp/22, udp/51820");
    expect(await page.textContent("#ip")).toBe("127.0.0.1");
    const first = Number(await page.textContent("#seconds"));
    expect(first).toBeGreaterThan(55);
    expect(first).toBeLessThanOrEqual(60);
    await page.screenshot({ path: join(SHOTS, "phone-granted.png"), fullPage: true });
    await page.waitForFunction(
      (start) => Number(document.getElementById("seconds")?.textContent) < start,
      first,
      { timeout: 3000 },
    );
    // The script swapped the UTC fallback for the phone's local time.
    expect(await page.textContent("#until")).not.toContain("UTC");
    await close(context, errors);
  });

  it("says only that it failed when the code is wrong", async () => {
    const { context, page, errors } = await phone();
    await walk(page);
    const good = await codeFor("typo");
    const wrong = good.replace(/.$/, (d) => String((Number(d) + 1) % 10));
    expect(await submit(page, "typo", wrong)).toBe(403);
    expect(await page.textContent("h1")).toBe("Not opened");
    expect(await page.textContent("main")).not.toMatch(/code|user|wrong/i);
    await page.screenshot({ path: join(SHOTS, "phone-denied.png"), fullPage: true });
    expect(await gw.firewall.list()).toHaveLength(2); // only the first test's grant
    await close(context, errors);
  });

  it("fits a 360 px screen without sideways scrolling", async () => {
    const { context, page, errors } = await phone();
    await page.setViewportSize({ width: 360, height: 740 });
    await walk(page);
    await page.fill("#code", "888888");
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBe(0);
    await page.screenshot({ path: join(SHOTS, "phone-360-challenge.png"), fullPage: true });
    await close(context, errors);
  });

  it("works with JavaScript off, showing a static time left", async () => {
    const { context, page, errors } = await phone({ javaScriptEnabled: false });
    await walk(page);
    expect(await submit(page, "nojs", await codeFor("nojs"))).toBe(200);
    expect(await page.textContent("h1")).toBe("Open");
    expect(await page.textContent("#seconds")).toBe("60");
    expect(await page.textContent("#until")).toMatch(/^\d\d:\d\d:\d\d UTC$/);
    await page.screenshot({ path: join(SHOTS, "phone-granted-nojs.png"), fullPage: true });
    // Close now is a plain form: it works without JavaScript, and the port closes at once.
    expect((await page.locator("#close-now").boundingBox())?.height).toBeGreaterThanOrEqual(48);
    expect(await gw.firewall.list()).toHaveLength(2);
    const action = await page.getAttribute("#close-form", "action");
    const token = await page.getAttribute("#close-form input[name=close]", "value");
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === "POST"),
      page.tap("#close-now"),
    ]);
    expect(response.status()).toBe(200);
    await page.waitForSelector("h1.bad");
    expect(await page.textContent("h1")).toBe("Closed");
    expect(await page.textContent("#ports")).toBe("tcp/22, udp/51820");
    expect(await gw.firewall.list()).toEqual([]);
    await page.screenshot({ path: join(SHOTS, "phone-closed-nojs.png"), fullPage: true });
    // The same form again (a resubmission): the token is spent, the answer is the decoy.
    const again = await context.request.post(gw.url + (action ?? ""), {
      form: { close: token ?? "" },
    });
    expect(again.status()).toBe(404);
    await close(context, errors);
  });
});
