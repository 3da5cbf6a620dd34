import { afterEach, describe, expect, inject, it } from "vitest";
import { isDrivenByAnotherPage, ScannerDetector } from "../../src/defences/scanner.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { redisBackend } from "../../src/store/backend.js";
import { MemoryStore } from "../../src/store/memory.js";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import type { KnockStore } from "../../src/store/types.js";
import {
  RecordingFirewall,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";
import { captureLog, knocker, listen, send, sleep, type Listening } from "./support.js";

function detector(overrides: Partial<ConstructorParameters<typeof ScannerDetector>[0]> = {}) {
  let time = 1_000_000;
  const flagged: string[] = [];
  const scanner = new ScannerDetector({
    distinctPaths: 5,
    windowMs: 1000,
    trackedIps: 100,
    now: () => time,
    onScanner: (ip) => flagged.push(ip),
    ...overrides,
  });
  return { scanner, flagged, tick: (ms: number) => (time += ms) };
}

describe("scanner detector (in process)", () => {
  it("flags an IP once it asks for distinctPaths distinct unknown paths within the window", () => {
    const { scanner, flagged } = detector();
    for (let i = 0; i < 4; i++) expect(scanner.note("203.0.113.1", `/probe/${i}`)).toBe(false);
    expect(scanner.note("203.0.113.1", "/probe/4")).toBe(true);
    expect(scanner.note("203.0.113.1", "/probe/5")).toBe(false); // once per window
    expect(flagged).toEqual(["203.0.113.1"]);
  });

  it("does not count repeats of one path (a browser reloading a missing favicon)", () => {
    const { scanner, flagged } = detector();
    for (let i = 0; i < 1000; i++) scanner.note("203.0.113.2", "/favicon.ico");
    expect(flagged).toEqual([]);
  });

  it("starts counting afresh after the window", () => {
    const { scanner, flagged, tick } = detector();
    for (let i = 0; i < 4; i++) scanner.note("203.0.113.3", `/a/${i}`);
    tick(1000);
    for (let i = 0; i < 4; i++) scanner.note("203.0.113.3", `/b/${i}`);
    expect(flagged).toEqual([]);
  });

  it("keeps its memory bounded under a flood from many IPs", () => {
    const { scanner } = detector({ trackedIps: 64 });
    for (let i = 0; i < 10_000; i++)
      scanner.note(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `/x/${i}`);
    expect(scanner.size).toBe(64);
  });

  it("tells requests another page caused from the visitor's own (Fetch Metadata)", () => {
    const cases: [Record<string, string>, boolean][] = [
      [{}, false],
      [{ "sec-fetch-site": "none", "sec-fetch-mode": "navigate" }, false],
      [{ "sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate" }, false],
      [{ "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" }, true],
      [{ "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" }, true],
      [{ "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors" }, true],
      [{ "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" }, true],
      [{ "sec-fetch-mode": "no-cors" }, true],
    ];
    for (const [headers, driven] of cases) expect(isDrivenByAnotherPage(headers)).toBe(driven);
  });

  it("costs well under a microsecond per request", () => {
    const { scanner } = detector({ distinctPaths: 64, trackedIps: 10_000 });
    const paths = Array.from({ length: 256 }, (_, i) => `/wp-admin/some/probe-${i}.php`);
    const start = process.hrtime.bigint();
    for (let i = 0; i < 200_000; i++) scanner.note(`198.51.100.${i & 255}`, paths[i & 255] ?? "/");
    const nsPerCall = Number(process.hrtime.bigint() - start) / 200_000;
    expect(nsPerCall).toBeLessThan(2000); // generous for a loaded CI core; ~100-300 ns here
  });
});

/** Counts calls to every store method, to prove the decoy path never touches the store. */
function countingStore(store: KnockStore): { store: KnockStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe("scanner bans through the gateway (real Redis)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function scanningSetup() {
    const capture = captureLog();
    const config = testConfig({
      limits: { scanner: { distinctPaths: 10, window: "10s", ban: "1m" } },
    });
    const t: TestGateway = await startTestGateway({ config, log: capture.log });
    cleanups.push(() => t.close());
    const server: Listening = await listen(t.gateway.handler);
    cleanups.push(() => server.close());
    return { t, server, capture, config };
  }

  it("puts a scanner's knocks on a budget, on this and on every gateway sharing the store", async () => {
    const { t, server, capture, config } = await scanningSetup();
    const scanner = knocker(() => server.port, "203.0.113.66");
    for (let i = 0; i < 12; i++) expect((await scanner.get(`/admin/${i}.php`)).status).toBe(404);
    await expect.poll(() => t.store.isBanned("203.0.113.66")).toBe(true);
    // Two walks of the sequence a minute still work (a person behind the address gets in)...
    expect(await scanner.walk()).toBeDefined();
    expect(await scanner.walk()).toBeDefined();
    // ...then its steps are ignored: the whole sequence is answered by decoys.
    expect(await scanner.walk()).toBeUndefined();
    expect(await knocker(() => server.port, "203.0.113.67").walk()).toBeDefined();

    // A second gateway on the same Redis prefix honours the ban without having seen the scan.
    if (!(t.store instanceof RedisStore)) throw new Error("expected the test gateway on Redis");
    const secondBackend = redisBackend(createRedisClient(inject("redisUrl")), t.store.keys.prefix, {
      log: silentLogger(),
      now: Date.now,
    });
    await secondBackend.connect();
    const second = createGateway(config, {
      log: silentLogger(),
      now: Date.now,
      backend: secondBackend,
      firewall: new RecordingFirewall(),
    });
    const secondServer = await listen(second.handler);
    cleanups.push(async () => {
      await secondServer.close();
      await second.stop();
    });
    expect(await knocker(() => secondServer.port, "203.0.113.66").walk()).toBeUndefined();
    expect(await knocker(() => secondServer.port, "203.0.113.68").walk()).toBeDefined();

    expect((await t.store.listBans()).bans).toEqual([
      { ip: "203.0.113.66", until: expect.any(Number) as number, reason: "scanner" },
    ]);
    expect(capture.events().filter((e) => e.event === "ban")).toMatchObject([
      { reason: "scanner", ip: "203.0.113.66", durationMs: 60_000 },
    ]);
    expect(await t.store.unban("203.0.113.66")).toBe(true);
    expect(await scanner.walk()).toBeDefined();
  });

  it("bans a rotating IPv6 scanner's /64 once, not each of its 100 addresses", async () => {
    const { t, server, capture } = await scanningSetup();
    // 100 addresses of one /64, each asking for 10 distinct unknown paths (the threshold).
    for (let host = 1; host <= 100; host++) {
      const scanner = knocker(() => server.port, `2001:db8:5:6::${host.toString(16)}`);
      for (let i = 0; i < 10; i++) await scanner.get(`/probe/${host}/${i}`);
    }
    await expect.poll(() => t.store.isBanned("2001:db8:5:6::1")).toBe(true);
    await sleep(100); // any further ban would be written fire-and-forget
    expect((await t.store.listBans()).bans.map((b) => b.ip)).toEqual(["2001:db8:5:6::/64"]);
    expect(await t.store.countBans()).toBe(1);
    expect(capture.events().filter((e) => e.event === "ban")).toMatchObject([
      { reason: "scanner", kind: "prefix", ip: "2001:db8:5:6::/64" },
    ]);
    // A fresh address in the /64 is banned too; the neighbouring /64 is not.
    expect(await t.store.isBanned("2001:db8:5:6:ffff::1")).toBe(true);
    expect(await t.store.isBanned("2001:db8:5:7::1")).toBe(false);
  });

  it("lets a banned client with the right sequence and code in", async () => {
    const { t, server } = await scanningSetup();
    const person = knocker(() => server.port, "203.0.113.70");
    for (let i = 0; i < 12; i++) await person.get(`/admin/${i}.php`);
    await expect.poll(() => t.store.isBanned("203.0.113.70")).toBe(true);
    const reply = await person.redeem((await person.walk()) ?? "");
    expect(reply.status).toBe(200);
    expect(t.firewall.opened.map((rule) => rule.ip)).toContain("203.0.113.70");
  });

  it("never bans a visitor for what another page made their browser fetch", async () => {
    const { t, server } = await scanningSetup();
    const visitor = "203.0.113.71";
    const fetchAs = (path: string, headers: Record<string, string>) =>
      send(server.port, "GET", path, { "X-Forwarded-For": visitor, ...headers });
    // A page with 25 <img src="https://gateway/cdn/cat-N.jpg">, an iframe per path, and
    // fetch() calls from a same-site page: none of it counts.
    for (let i = 0; i < 25; i++) {
      await fetchAs(`/cdn/cat-${i}.jpg`, {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "no-cors",
        "Sec-Fetch-Dest": "image",
      });
      await fetchAs(`/frame/${i}`, {
        "Sec-Fetch-Site": "cross-site",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-Dest": "iframe",
      });
      await fetchAs(`/api/${i}`, { "Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors" });
    }
    await sleep(100); // a ban would be written fire-and-forget; give it the time to land
    expect(await t.store.isBanned(visitor)).toBe(false);
    // The visitor's own navigations (typed URLs) and header-less clients still count.
    for (let i = 0; i < 12; i++)
      await fetchAs(`/typed/${i}`, { "Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate" });
    await expect.poll(() => t.store.isBanned(visitor)).toBe(true);
  });

  it("adds no store call to the decoy path: a flood of unknown paths costs one ban write", async () => {
    const counted = countingStore(new MemoryStore());
    const gateway = createGateway(testConfig(), {
      log: silentLogger(),
      now: Date.now,
      store: counted.store,
      firewall: new RecordingFirewall(),
    });
    const server = await listen(gateway.handler);
    cleanups.push(async () => {
      await server.close();
      await gateway.stop();
    });
    const flood = knocker(() => server.port, "198.51.100.200");
    for (let i = 0; i < 200; i++) await flood.get(`/flood/${i}`);
    expect(counted.calls.filter((name) => name !== "close")).toEqual(["ban"]);
  });
});
