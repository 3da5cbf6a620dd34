import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { chromium } from "playwright-core";
import { generateSecret } from "otplib";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it, inject } from "vitest";
import { FleetAgent } from "../../src/fleet/agent.js";
import { currentTotp } from "../../src/knock/totp.js";
import { silentLogger } from "../../src/log.js";
import { createRedisClient } from "../../src/store/redis.js";
import {
  ALICE_SECRET,
  BOB_SECRET,
  RecordingFirewall,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";
import { agentClient, waitReady } from "./support.js";

const SECRETS = {
  ann: generateSecret(),
  ben: generateSecret(),
  cy: generateSecret(),
  dee: generateSecret(),
};
/** Debian's chromium, as in test/browser; a narrow phone with JavaScript off. */
const CHROMIUM = "/usr/bin/chromium";
const SHOTS = join(import.meta.dirname, "..", "..", "test-output");
const doors = {
  // web1 has a running agent; web2 has none, so it stays pending.
  mixed: {
    sequence: ["/m/1", "/m/2"],
    open: ["tcp/22"],
    users: ["ann", "dee"],
    hosts: ["local", "web1", "web2"],
  },
  agent: { sequence: ["/a/1", "/a/2"], open: ["tcp/22"], users: ["ben"], hosts: ["web1"] },
  plain: { sequence: ["/p/1", "/p/2"], open: ["tcp/22"], users: ["cy"] },
};

/**
 * The HTML result page after a knock on doors naming agents' hosts: a real Redis, the
 * gateway's real fleet publisher, and an agent (its own ACL user) for web1 in process.
 */
describe("the result page lists each host as open or pending", () => {
  const url = inject("redisUrl");
  let t: TestGateway | undefined;
  let admin: Redis | undefined;
  let agentRedis: Redis | undefined;
  let agent: FleetAgent | undefined;

  beforeAll(async () => {
    const gateway = await startTestGateway({
      config: testConfig({
        store: { redis: url },
        doors,
        users: {
          // testConfig's own doors name alice and bob.
          alice: { secret: ALICE_SECRET },
          bob: { secret: BOB_SECRET },
          ...Object.fromEntries(Object.entries(SECRETS).map(([u, secret]) => [u, { secret }])),
        },
      }),
    });
    t = gateway;
    admin = createRedisClient(url);
    await waitReady(admin);
    const prefix = gateway.keyPrefix ?? "";
    const redis = await agentClient(admin, url, prefix, "web1");
    agentRedis = redis;
    agent = new FleetAgent({
      host: "web1",
      keyPrefix: prefix,
      redis,
      firewall: new RecordingFirewall(),
      ports: [{ proto: "tcp", port: 22 }],
      now: Date.now,
      log: silentLogger(),
      sweepIntervalMs: 1000,
      blockMs: 200,
    });
    await agent.start();
  });

  afterAll(async () => {
    await agent?.stop();
    agentRedis?.disconnect();
    await t?.close();
    admin?.disconnect();
  });

  /** Walks a two-step door as a browser would (HTML), and posts the form. */
  async function knockHtml(door: "m" | "a" | "p", user: keyof typeof SECRETS) {
    const { handler } = (t as TestGateway).gateway;
    const ip = `198.51.100.${String(Object.keys(SECRETS).indexOf(user) + 1)}`;
    const get = (path: string) => request(handler).get(path).set("X-Forwarded-For", ip);
    expect((await get(`/${door}/1`)).status).toBe(404);
    const form = await get(`/${door}/2`);
    expect(form.status).toBe(200);
    const challenge = /name="challenge" value="([^"]+)"/.exec(form.text)?.[1] ?? "";
    const started = Date.now();
    const reply = await request(handler)
      .post(`/${door}/2`)
      .set("X-Forwarded-For", ip)
      .type("form")
      .send({ challenge, user, code: await currentTotp(SECRETS[user], Date.now()) });
    return { reply, tookMs: Date.now() - started };
  }

  /** [host, state] pairs in the order the page lists them. */
  const listed = (html: string) =>
    [
      ...html.matchAll(
        /<li data-state="(\w+)">\s*<span class="host">([^<]*)<\/span><span class="state (\w+)">(\w+)<\/span>/g,
      ),
    ].map((m) => {
      expect(m[1]).toBe(m[4]); // the attribute and the text agree
      expect(m[3]).toBe(m[4] === "open" ? "ok" : "pending");
      return [m[2], m[4]];
    });

  it("shows open for confirmed hosts and pending for one whose agent is not running", async () => {
    const { reply, tookMs } = await knockHtml("m", "ann");
    expect(reply.status).toBe(200);
    expect(reply.type).toBe("text/html");
    expect(listed(reply.text)).toEqual([
      ["local", "open"],
      ["web1", "open"],
      ["web2", "pending"],
    ]);
    expect(reply.text).toContain('id="pending-note"');
    // The same bounded wait as the JSON: about 1 s for the host that never answers.
    expect(tookMs).toBeGreaterThanOrEqual(900);
    expect(tookMs).toBeLessThan(3000);
    // No script is needed for the list, and the page's only inline code carries the nonce.
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(
      String(reply.headers["content-security-policy"]),
    )?.[1];
    expect(nonce).toBeDefined();
    for (const tag of reply.text.match(/<(script|style)[^>]*>/g) ?? []) {
      expect(tag).toContain(`nonce="${nonce ?? ""}"`);
    }
  });

  it("has no pending note when every host confirmed", async () => {
    const { reply } = await knockHtml("a", "ben");
    expect(reply.status).toBe(200);
    expect(listed(reply.text)).toEqual([["web1", "open"]]);
    expect(reply.text).not.toContain("pending-note");
  });

  it("lists no hosts for a door that opens only the gateway's own host", async () => {
    const { reply } = await knockHtml("p", "cy");
    expect(reply.status).toBe(200);
    expect(reply.text).toContain("<h1");
    expect(reply.text).not.toContain('id="hosts"');
  });

  it("reads on a 360 px phone with JavaScript off, within the page's CSP", async () => {
    const gateway = t as TestGateway;
    const [base] = await gateway.gateway.start();
    mkdirSync(SHOTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
    try {
      const context = await browser.newContext({
        viewport: { width: 360, height: 740 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
        javaScriptEnabled: false,
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on("console", (message) => {
        // The first step's decoy 404 is expected; anything else (a CSP violation) is not.
        if (message.type() === "error" && !message.text().startsWith("Failed to load resource"))
          errors.push(message.text());
      });
      await page.goto(`${base ?? ""}/m/1`);
      await page.goto(`${base ?? ""}/m/2`);
      await page.fill("#user", "dee");
      await page.fill("#code", await currentTotp(SECRETS.dee, Date.now()));
      await Promise.all([page.waitForSelector("h1.ok, h1.bad"), page.tap("button[type=submit]")]);
      expect(await page.textContent("h1")).toBe("Open");
      const items = await page.locator("#hosts li").allInnerTexts();
      expect(items.map((text) => text.replace(/\s+/g, " ").trim())).toEqual([
        "local open",
        "web1 open",
        "web2 pending",
      ]);
      expect(await page.isVisible("#pending-note")).toBe(true);
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow).toBe(0);
      // Readable: the host lines are not shrunk below body text.
      const size = await page.$eval(".host", (el) => parseFloat(getComputedStyle(el).fontSize));
      expect(size).toBeGreaterThanOrEqual(16);
      await page.screenshot({ path: join(SHOTS, "phone-360-granted-hosts.png"), fullPage: true });
      await context.close();
      expect(errors, "console errors (CSP violations?)").toEqual([]);
    } finally {
      await browser.close();
    }
  }, 45_000);
});
