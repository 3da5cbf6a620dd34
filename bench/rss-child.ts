/**
 * Measures the gateway's resident memory with N tracked clients (MemoryStore), in a fresh
 * process so nothing else is on the heap. Usage: rss-child.ts N. Prints one JSON line.
 * Run with --expose-gc so the figures are taken after a full collection.
 */
import { createGateway } from "../src/gateway.js";
import { silentLogger } from "../src/log.js";
import { systemClock } from "../src/clock.js";
import { MemoryStore } from "../src/store/memory.js";
import { BENCH_SEQUENCE, benchConfig } from "./config.js";

const collect = (): void => {
  (globalThis as { gc?: () => void }).gc?.();
};

async function main(): Promise<void> {
  const clients = Number(process.argv[2]);
  if (!Number.isInteger(clients) || clients < 1 || clients > 1_000_000)
    throw new Error("usage: rss-child.ts N (1..1000000)");
  const store = new MemoryStore(systemClock);
  const gateway = createGateway(benchConfig({ port: 0 }), {
    log: silentLogger(),
    now: systemClock,
    store,
  });
  const step = gateway.engine.lookup(BENCH_SEQUENCE[0]);
  if (step === undefined) throw new Error("bench door has no first step");
  collect();
  const before = process.memoryUsage();
  for (let n = 0; n < clients; n++) {
    // Distinct client addresses 10.a.b.c, each one step into the door: one progress entry.
    const ip = `10.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    await gateway.engine.step(step, ip);
  }
  collect();
  const after = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({ clients, tracked: store.size, rssBefore: before.rss, rssAfter: after.rss, heapBefore: before.heapUsed, heapAfter: after.heapUsed })}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
