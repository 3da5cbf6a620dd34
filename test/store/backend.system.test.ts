import { randomUUID } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { silentLogger } from "../../src/log.js";
import { createStoreBackend } from "../../src/store/backend.js";
import { testConfig } from "../support/gateway.js";

const deps = { log: silentLogger(), now: Date.now };
const { limits } = testConfig();

describe("createStoreBackend", () => {
  it("keeps state in this process without store.redis", async () => {
    const backend = createStoreBackend({ store: { keyPrefix: "wk:" }, limits }, deps);
    expect(backend.store.kind).toBe("memory");
    await backend.connect();
    await backend.close();
  });

  it("puts the store and the limiter's counters on the same Redis namespace", async () => {
    const config = {
      store: { redis: inject("redisUrl"), keyPrefix: `test:${randomUUID()}:` },
      limits,
    };
    const one = createStoreBackend(config, deps);
    const two = createStoreBackend(config, deps);
    try {
      await Promise.all([one.connect(), two.connect()]);
      expect(one.store.kind).toBe("redis");
      // State written through one backend is seen through the other (the same Redis).
      await one.store.ban("203.0.113.40", 5000, "admin");
      expect(await two.store.isBanned("203.0.113.40")).toBe(true);
      // So are the limiter's counters.
      await one.limiters("t", 2, 60).consume("k");
      expect((await two.limiters("t", 2, 60).get("k"))?.consumedPoints).toBe(1);
    } finally {
      await one.close();
      await two.close();
      await one.close(); // idempotent
    }
  });
});
