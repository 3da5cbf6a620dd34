import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { loadConfigFile } from "../../src/config/load.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { createLogger } from "../../src/log.js";
import { webauthnBrowserBundle } from "../../src/passkey/browser-bundle.js";
import { readCredentials, writeCredentials } from "../../src/passkey/credentials.js";
import { RedisEnrollments } from "../../src/passkey/enrollments.js";
import { parseAssertion, verifyAssertion } from "../../src/passkey/webauthn.js";
import { createRedisClient } from "../../src/store/redis.js";
import { cli } from "../support/cli.js";
import { RecordingFirewall, TEST_SEQUENCE } from "../support/gateway.js";

/**
 * Passkeys end to end: a real Chromium with a CDP virtual authenticator (ctap2, internal,
 * resident keys, user verification), a gateway on http://localhost (a secure context)
 * built from a YAML config, the CLI creating enrollment URLs through a real Redis.
 */
const CHROMIUM = "/usr/bin/chromium";
const LAB = ["/l/1", "/l/2"] as const;
const WEB = ["/w/1", "/w/2"] as const;
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true } as const;

/** Log lines, parsed, for the audit assertions. */
const events: Record<string, unknown>[] = [];
const logSink = new Writable({
  write(chunk: Buffer, _enc, done) {
    for (const line of chunk.toString().split("\n"))
      if (line.trim() !== "") events.push(JSON.parse(line) as Record<string, unknown>);
    done();
  },
});

let dir: string;
let configPath: string;
let base: string;
let gateway: Gateway | undefined;
let firewall: RecordingFirewall;
let browser: Browser | undefined;
let otherOrigin: Server | undefined;
const prefix = `pk:${randomUUID().slice(0, 12)}:`;
const redis = createRedisClient(inject("redisUrl"));

/** A part beforeAll started (undefined only if it failed, and then no test runs). */
function started<T>(part: T | undefined): T {
  if (part === undefined) throw new Error("beforeAll did not start everything");
  return part;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "webknock-passkeys-"));
  const port = await freePort();
  base = `http://localhost:${port}`;
  configPath = join(dir, "webknock.yaml");
  await writeFile(
    configPath,
    `server:
  listen: [{host: 127.0.0.1, port: ${port}}]
  trustProxy: [loopback]
  rpId: localhost
  origin: ${base}
store: {redis: "${inject("redisUrl")}", keyPrefix: "${prefix}"}
firewall: {backend: log}
limits: {maxFailures: 8}
doors:
  ssh: {sequence: [${TEST_SEQUENCE.join(", ")}], open: [tcp/22], users: [alice, carol]}
  web: {sequence: [${WEB.join(", ")}], open: [tcp/443], users: [alice]}
  lab: {sequence: [${LAB.join(", ")}], open: [tcp/8443], users: [bob]}
users:
  alice: {passkeys: ${join(dir, "alice.passkeys")}, factors: [passkey]}
  bob: {passkeys: ${join(dir, "bob.passkeys")}}
  carol: {secret: GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ}
`,
  );
  firewall = new RecordingFirewall();
  gateway = createGateway(loadConfigFile(configPath), {
    log: createLogger({ destination: logSink }),
    now: Date.now,
    firewall,
  });
  await gateway.start();
  const elsewhere = createServer((_req, res) => res.end("<!doctype html><title>elsewhere</title>"));
  otherOrigin = elsewhere;
  await new Promise<void>((resolve) => elsewhere.listen(0, "127.0.0.1", resolve));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
  await gateway?.stop();
  otherOrigin?.close();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** A phone with its own virtual platform authenticator (its passkeys live there). */
async function phone(
  headers: Record<string, string> = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await started(browser).newContext({ ...PHONE, extraHTTPHeaders: headers });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });
  return { context, page };
}

/** `webknock user passkey add NAME`: the URL it prints. */
async function enrollmentUrl(name: string): Promise<string> {
  const run = await cli(["user", "passkey", "add", name, "-c", configPath]);
  expect(run.code, run.stderr).toBe(0);
  expect(run.stdout).toMatch(/▄|█/); // the terminal QR code
  const url = /(http:\/\/localhost:\d+\/[A-Za-z0-9_-]{32})\b/.exec(run.stdout)?.[1] ?? "";
  expect(url).not.toBe("");
  return url;
}

/** Waits (at most 3 s) until the gateway has polled the new URL from the store. */
async function whenLive(url: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    if ((await fetch(url)).status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} never became live`);
}

/** Opens the URL in the phone and registers a passkey there. */
async function enroll(page: Page, name: string): Promise<void> {
  const url = await enrollmentUrl(name);
  await whenLive(url);
  await page.goto(url);
  await page.click("#add-passkey");
  await page.waitForSelector("h1.ok, h1.bad");
  expect(await page.textContent("h1")).toBe("Passkey added");
  expect((await page.goto(url))?.status()).toBe(404);
}

/** Walks a door's paths in the page; the last shows the challenge. */
async function walk(page: Page, paths: readonly string[] = TEST_SEQUENCE): Promise<void> {
  for (const path of paths) await page.goto(base + path);
}

/** Taps "Use passkey" but stops the form POST, returning the form's fields instead. */
async function captureAssertion(page: Page, paths: readonly string[] = TEST_SEQUENCE) {
  await walk(page, paths);
  const last = base + (paths.at(-1) ?? "");
  let resolve: (body: URLSearchParams) => void = () => undefined;
  const posted = new Promise<URLSearchParams>((r) => (resolve = r));
  await page.route(last, async (route) => {
    if (route.request().method() !== "POST") return route.continue();
    resolve(new URLSearchParams(route.request().postData() ?? ""));
    await route.abort();
  });
  await page.click("#use-passkey");
  const form = await posted;
  await page.unroute(last);
  return { challenge: form.get("challenge") ?? "", passkey: form.get("passkey") ?? "" };
}

/** A client at `ip` (X-Forwarded-For through the trusted loopback proxy). */
function client(ip = "127.0.0.1") {
  const headers = { accept: "application/json", "x-forwarded-for": ip };
  return {
    async walk(paths: readonly string[] = TEST_SEQUENCE): Promise<string> {
      let body: { challenge?: string } = {};
      for (const path of paths) {
        const res = await fetch(base + path, { headers });
        if (res.status === 200) body = (await res.json()) as typeof body;
      }
      return body.challenge ?? "";
    },
    post(path: string, form: Record<string, string>): Promise<Response> {
      return fetch(base + path, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify(form),
      });
    },
  };
}

const LAST = TEST_SEQUENCE[2];
const denials = (reason: string) =>
  events.filter((e) => e.event === "denial" && e.reason === reason);

// Generous per-test bounds: a loaded CI machine slows Chromium far more than the gateway.
describe("passkeys in a real browser", { timeout: 120_000 }, () => {
  let alice: { context: BrowserContext; page: Page };

  it("enrolls through a one-time URL, then opens the door with the passkey", async () => {
    alice = await phone();
    await enroll(alice.page, "alice");
    const file = join(dir, "alice.passkeys");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await readCredentials(file)).toHaveLength(1);
    expect(events.some((e) => e.event === "passkey-enrolled" && e.user === "alice")).toBe(true);

    await walk(alice.page);
    expect(await alice.page.isVisible("#use-passkey")).toBe(true);
    await alice.page.click("#use-passkey");
    await alice.page.waitForSelector("h1.ok, h1.bad");
    expect(await alice.page.textContent("h1")).toBe("Open");
    expect(await alice.page.textContent("#ports")).toBe("tcp/22");
    expect(firewall.opened.at(-1)).toMatchObject({ ip: "127.0.0.1", proto: "tcp", port: 22 });
    expect(events.some((e) => e.event === "grant" && e.factor === "passkey")).toBe(true);
  });

  it("answers the decoy on an enrollment path before and after its one use", async () => {
    const token = randomUUID().replaceAll("-", "");
    const path = `/${token}`;
    const decoy = async (p: string) => {
      const res = await fetch(base + p);
      // Byte for byte but the Date header, as every decoy answer.
      const headers = [...res.headers].filter(([name]) => name !== "date");
      return { status: res.status, body: await res.text(), headers };
    };
    const stranger = await decoy(`/${randomUUID().replaceAll("-", "")}`);
    expect(await decoy(path)).toEqual(stranger);
    const store = new RedisEnrollments(redis, `${prefix}enroll`);
    await store.put({ token, user: "bob", expiresAt: Date.now() + 60_000 });
    await whenLive(base + path);
    const bad = await fetch(base + path, {
      method: "POST",
      body: new URLSearchParams({ credential: "{}" }),
    });
    expect(bad.status).toBe(403);
    expect(await decoy(path)).toEqual(stranger);
  });

  it("refuses a replayed assertion", async () => {
    const first = await captureAssertion(alice.page);
    const local = client();
    expect((await local.post(LAST, first)).status).toBe(200);
    expect((await local.post(LAST, first)).status).toBe(404); // the challenge is spent
    const fresh = await local.walk();
    expect((await local.post(LAST, { ...first, challenge: fresh })).status).toBe(403);
    // The refusal is logged without the tokens the library's message quotes.
    expect(events.some((e) => e.event === "passkey-refused")).toBe(true);
    expect(JSON.stringify(events)).not.toContain(first.challenge);
    expect(JSON.stringify(events)).not.toContain(fresh);
  });

  it("refuses an assertion for a challenge of another IP or another door", async () => {
    const assertion = await captureAssertion(alice.page);
    const elsewhere = client("203.0.113.7");
    const theirs = await elsewhere.walk();
    expect((await elsewhere.post(LAST, assertion)).status).toBe(404);
    expect((await elsewhere.post(LAST, { ...assertion, challenge: theirs })).status).toBe(403);
    const local = client();
    const web = await local.walk(WEB);
    expect((await local.post(WEB[1], { ...assertion, challenge: web })).status).toBe(403);
    expect((await local.post(WEB[1], assertion)).status).toBe(404);
    // Untouched by all that, the assertion still opens its own door for its own IP.
    expect((await local.post(LAST, assertion)).status).toBe(200);
  });

  it("refuses an assertion made for another origin or RP ID", async () => {
    const local = client();
    const token = await local.walk();
    const port = (started(otherOrigin).address() as AddressInfo).port;
    await alice.page.goto(`http://localhost:${port}/`);
    await alice.page.addScriptTag({ content: webauthnBrowserBundle() });
    const phished = await alice.page.evaluate(
      (challenge) =>
        (
          window as unknown as {
            SimpleWebAuthnBrowser: { startAuthentication(o: unknown): Promise<unknown> };
          }
        ).SimpleWebAuthnBrowser.startAuthentication({
          optionsJSON: { challenge, rpId: "localhost", userVerification: "required" },
        }),
      token,
    );
    expect(
      (await local.post(LAST, { challenge: token, passkey: JSON.stringify(phished) })).status,
    ).toBe(403);

    // The RP ID check, on a real assertion that is otherwise valid for this gateway.
    const real = await captureAssertion(alice.page);
    const assertion = parseAssertion(real.passkey);
    const [stored] = await readCredentials(join(dir, "alice.passkeys"));
    if (assertion === undefined || stored === undefined) throw new Error("no assertion");
    const wrongRp = { rpId: "knock.example.net", origin: base };
    expect(await verifyAssertion(wrongRp, stored, real.challenge, assertion)).toMatchObject({
      ok: false,
    });
    expect(
      await verifyAssertion({ rpId: "localhost", origin: base }, stored, real.challenge, assertion),
    ).toMatchObject({ ok: true });
  });

  it("refuses another user's passkey, and counts failed assertions like wrong codes", async () => {
    const bobIp = "198.51.100.20";
    const bob = await phone({ "x-forwarded-for": bobIp });
    await enroll(bob.page, "bob");
    // Bob's passkey is not one of the ssh door's users'.
    const foreign = await captureAssertion(bob.page);
    const atBob = client(bobIp);
    expect((await atBob.post(LAST, foreign)).status).toBe(403);
    expect(denials("unknown-passkey").length).toBeGreaterThan(0);
    // A user named on the form who does not hold the passkey: refused too.
    const named = await captureAssertion(bob.page, LAB);
    expect((await atBob.post(LAB[1], { ...named, user: "alice" })).status).toBe(403);

    // Failed assertions lock the IP out after limits.maxFailures, as wrong codes would.
    const good = await captureAssertion(bob.page, LAB);
    // Two failures from this IP above, six more here: limits.maxFailures (8).
    for (let i = 0; i < 6; i++) {
      const token = await atBob.walk();
      expect((await atBob.post(LAST, { challenge: token, passkey: good.passkey })).status).toBe(
        403,
      );
    }
    expect((await atBob.post(LAB[1], good)).status).toBe(403);
    expect(denials("locked").length).toBeGreaterThan(0);
    await bob.context.close();
  });

  it("refuses and logs a signature counter that goes backwards", async () => {
    const file = join(dir, "alice.passkeys");
    const [stored] = await readCredentials(file);
    if (stored === undefined) throw new Error("alice has no passkey");
    await writeCredentials(file, [{ ...stored, counter: stored.counter + 1000 }]);
    await walk(alice.page);
    await alice.page.click("#use-passkey");
    await alice.page.waitForSelector("h1.ok, h1.bad");
    expect(await alice.page.textContent("h1")).toBe("Not opened");
    expect(events.some((e) => e.event === "passkey-counter-regression" && e.user === "alice")).toBe(
      true,
    );
    expect(denials("counter-regression").length).toBe(1);
  });

  it("fits 360 px, and without JavaScript the code form is all there is", async () => {
    await alice.page.setViewportSize({ width: 360, height: 740 });
    await walk(alice.page);
    const overflow = await alice.page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBe(0);
    const box = await alice.page.locator("#use-passkey").boundingBox();
    expect(box?.height).toBeGreaterThanOrEqual(48);
    await alice.context.close();

    const context = await started(browser).newContext({ ...PHONE, javaScriptEnabled: false });
    const page = await context.newPage();
    await walk(page);
    expect(await page.isVisible("#code")).toBe(true);
    expect(await page.isVisible("#use-passkey")).toBe(false);
    await context.close();
  });
});
