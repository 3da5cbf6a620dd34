import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { redisBackend } from "../../src/store/backend.js";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import { send } from "../defences/support.js";
import { RecordingFirewall, SEQUENCE, testConfig } from "../support/gateway.js";

const BANS = 200_000;
/** The bound for one scrape with 200,000 bans (it took 1.6 s with a script over all bans). */
const SCRAPE_BOUND_MS = 50;
const TOKEN = "scale-test-token-0123456789abcdef";

describe("200,000 bans (real Redis)", () => {
  const prefix = `test:${randomUUID()}:`;
  const client = createRedisClient(inject("redisUrl"));
  const backend = redisBackend(client, prefix, { log: silentLogger(), now: Date.now });
  let gateway: Gateway | undefined;
  /** The same gateway on an empty store: the baseline scrape, measured in the same run. */
  let baseline: Gateway | undefined;
  let port = 0;
  let admin = "";

  beforeAll(async () => {
    await backend.connect();
    await populate();
    const config = {
      ...testConfig(),
      admin: { listen: { host: "127.0.0.1", port: 0 }, token: TOKEN },
    };
    gateway = createGateway(config, {
      log: silentLogger(),
      now: Date.now,
      backend,
      firewall: new RecordingFirewall(),
    });
    const [url] = await gateway.start();
    port = Number(new URL(url ?? "").port);
    admin = gateway.adminUrl ?? "";
    baseline = createGateway(config, {
      log: silentLogger(),
      now: Date.now,
      backend: redisBackend(createRedisClient(inject("redisUrl")), `${prefix}empty:`, {
        log: silentLogger(),
        now: Date.now,
      }),
      firewall: new RecordingFirewall(),
    });
    await baseline.start();
  }, 120_000);

  /**
   * 200,000 bans in the store's layout, written in pipelines through the store's own key
   * builder (ban() itself costs two scripts a ban: about 40 s on a loaded CI machine),
   * plus the last 1,000 through ban(), which must agree with them.
   */
  async function populate(): Promise<void> {
    const started = performance.now();
    const { keys } = new RedisStore(client, prefix);
    const until = Date.now() + 3_600_000;
    const subjects = Array.from(
      { length: BANS },
      (_, n) => `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    );
    const direct = subjects.slice(0, BANS - 1000);
    for (let start = 0; start < direct.length; start += 10_000) {
      const chunk = direct.slice(start, start + 10_000);
      const pipeline = client.pipeline();
      for (const subject of chunk) pipeline.set(keys.ban(subject), "scanner", "PXAT", until);
      pipeline.zadd(keys.banIndex, ...chunk.flatMap((subject) => [until, subject]));
      pipeline.hset(keys.banReasons, ...chunk.flatMap((subject) => [subject, "scanner"]));
      await pipeline.exec();
    }
    for (const subject of subjects.slice(direct.length))
      await backend.store.ban(subject, 3_600_000, "scanner");
    console.info(`${BANS} bans written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }

  afterAll(async () => {
    await baseline?.stop();
    if (gateway) await gateway.stop();
    else await backend.close();
    const cleaner = createRedisClient(inject("redisUrl"), { commandTimeout: 30_000 });
    await new Promise((resolve) => cleaner.once("ready", resolve));
    let cursor = "0";
    for (let rounds = 0; rounds < 10_000; rounds++) {
      const [next, keys] = await cleaner.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 10_000);
      if (keys.length > 0) await cleaner.unlink(...keys);
      cursor = next;
      if (cursor === "0") break;
    }
    cleaner.disconnect();
  }, 60_000);

  /** One admin request over a fresh connection; resolves with status, body and wall time. */
  async function timedAdmin(path: string, url = admin) {
    const { port: adminPort } = new URL(url);
    const started = performance.now();
    const reply = await send(Number(adminPort), "GET", path, { Authorization: `Bearer ${TOKEN}` });
    return { ...reply, ms: performance.now() - started };
  }

  it("scrapes /metrics in under 50 ms while knock steps keep succeeding", async () => {
    expect(await backend.store.countBans()).toBe(BANS);
    await timedAdmin("/metrics"); // warm-up: the first collection compiles and allocates
    let stop = false;
    const statuses: number[] = [];
    // Four knockers walk step 1 of the door from 200 addresses while the scrapes run.
    const knockers = Array.from({ length: 4 }, async (_, k) => {
      for (let i = 0; i < 100_000 && !stop; i++) {
        const reply = await send(port, "GET", SEQUENCE[0], {
          "X-Forwarded-For": `198.51.100.${(i * 4 + k) % 200}`,
        });
        statuses.push(reply.status);
      }
    });
    const scrapes: number[] = [];
    const empty: number[] = [];
    // Interleaved with scrapes of the empty-store gateway, so both see the same load.
    for (let i = 0; i < 20; i++) {
      empty.push((await timedAdmin("/metrics", baseline?.adminUrl ?? "")).ms);
      const scrape = await timedAdmin("/metrics");
      expect(scrape.status).toBe(200);
      expect(scrape.body).toContain(`webknock_bans ${BANS}`);
      scrapes.push(scrape.ms);
    }
    stop = true;
    await Promise.all(knockers);
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Infinity;
    const loaded = median(scrapes);
    const unloaded = median(empty);
    console.info(
      `/metrics scrape, median of 20: ${loaded.toFixed(1)} ms with ${BANS} bans, ${unloaded.toFixed(1)} ms with none (ratio ${(loaded / unloaded).toFixed(2)}); max ${Math.max(...scrapes).toFixed(1)} ms; steps during: ${statuses.length}`,
    );
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((status) => status !== 404)).toEqual([]);
    // The 50 ms; on a machine so loaded that even the empty store's scrape comes
    // near it, the bound is twice the empty store's scrape from the same run. A script
    // over all bans (1.6 s on an idle machine) fails either by far.
    expect(loaded).toBeLessThan(Math.max(SCRAPE_BOUND_MS, 2 * unloaded));
  });

  it("pages GET /bans without reading every ban", async () => {
    const first = await timedAdmin("/bans?limit=1000");
    expect(first.status).toBe(200);
    const page = JSON.parse(first.body) as { bans: { ip: string }[]; nextCursor: string };
    expect(page.bans).toHaveLength(1000);
    const second = await timedAdmin(`/bans?limit=1000&cursor=${page.nextCursor}`);
    const next = JSON.parse(second.body) as { bans: { ip: string }[] };
    expect(next.bans).toHaveLength(1000);
    const overlap = new Set(page.bans.map((b) => b.ip));
    expect(next.bans.filter((b) => overlap.has(b.ip))).toEqual([]);
    console.info(
      `GET /bans?limit=1000: ${first.ms.toFixed(1)} ms, next page ${second.ms.toFixed(1)} ms`,
    );
    expect(first.ms).toBeLessThan(SCRAPE_BOUND_MS * 4);
  });
});
