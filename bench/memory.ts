import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { systemClock } from "../src/clock.js";
import { createRedisClient, RedisStore } from "../src/store/redis.js";
import { BENCH_DOOR, BENCH_SEQUENCE, type BenchParams } from "./config.js";
import { verdict, type Row } from "./report.js";
import { fmt } from "./stats.js";

const run = promisify(execFile);

/** `used_memory` from INFO memory. */
async function usedMemory(client: ReturnType<typeof createRedisClient>): Promise<number> {
  const info = await client.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/** Item 6a: Redis bytes per in-progress knock, via RedisStore.advance from N distinct IPs. */
export async function redisMemory(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Row[]> {
  say("6. memory");
  const client = createRedisClient(redisUrl);
  const store = new RedisStore(client, "wkb-mem:", systemClock);
  try {
    await store.connect();
    await client.flushall();
    const before = await usedMemory(client);
    const n = params.redisKeys;
    for (let i = 0; i < n; i++) {
      const ip = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
      await store.advance({
        door: BENCH_DOOR,
        ip,
        step: 0,
        length: BENCH_SEQUENCE.length,
        sequenceTimeoutMs: 30_000,
        challenge: { token: "", ttlMs: 60_000 },
      });
    }
    const after = await usedMemory(client);
    const sample = await client.memory("USAGE", `wkb-mem:p:${BENCH_DOOR}:10.0.0.1`);
    const perKey = (after - before) / n;
    say(`  redis: ${fmt(perKey, 1)} B per progress key (MEMORY USAGE ${String(sample)} B)`);
    return [
      {
        id: "6.redis",
        what: `Redis used_memory per in-progress knock (${n} distinct IPs at step 1)`,
        figure: `${fmt(perKey, 1)} B/knock (MEMORY USAGE of one key: ${String(sample)} B)`,
        target: "<= 256 B",
        verdict: verdict(perKey <= 256),
      },
    ];
  } finally {
    await client.flushall().catch(() => undefined);
    await store.close();
  }
}

interface RssReport {
  clients: number;
  tracked: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
}

/** Item 6b: the gateway's RSS with N tracked clients (MemoryStore), in a fresh process. */
export async function gatewayRss(params: BenchParams, say: (line: string) => void): Promise<Row[]> {
  const child = fileURLToPath(new URL("./rss-child.ts", import.meta.url));
  const { stdout } = await run(
    process.execPath,
    ["--expose-gc", "--import", "tsx", child, String(params.rssClients)],
    { timeout: 120_000 },
  );
  const r = JSON.parse(stdout) as RssReport;
  const mb = (bytes: number): string => fmt(bytes / 1_048_576, 1);
  say(`  rss: ${mb(r.rssAfter)} MB with ${r.tracked} tracked (was ${mb(r.rssBefore)} MB)`);
  return [
    {
      id: "6.rss",
      what: `Gateway RSS with ${r.clients} tracked clients (MemoryStore, one step each)`,
      figure: `${mb(r.rssAfter)} MB RSS (${mb(r.rssBefore)} MB before; heap +${mb(r.heapAfter - r.heapBefore)} MB, ${fmt((r.heapAfter - r.heapBefore) / r.clients)} B/client)`,
      verdict: "INFO",
    },
  ];
}
