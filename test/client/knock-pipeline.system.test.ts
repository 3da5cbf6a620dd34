import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { knock } from "../../src/client/knock.js";
import { currentTotp } from "../../src/knock/totp.js";
import { silentLogger } from "../../src/log.js";
import { redisBackend, type StoreBackend } from "../../src/store/backend.js";
import { createRedisClient } from "../../src/store/redis.js";
import { countRoundTrips, startDelayProxy } from "../support/delay-proxy.js";
import { startListeningGateway, TEST_SEQUENCE, type ListeningGateway } from "../support/gateway.js";

/** Each knock needs its own user: a code is good once per user. */
const USERS = Array.from({ length: 14 }, (_, i) => `u${i}`);
const DELAY_MS = 50;

describe("pipelined knock against the real gateway on Redis", () => {
  let gw: ListeningGateway;
  let backend: StoreBackend;
  const prefix = `test:${randomUUID()}:`;
  let next = 0;
  const knockAs = async (url: string) => {
    const user = USERS[next++] ?? "";
    const code = await currentTotp(gw.secrets.get(user) ?? "", Date.now());
    return knock({ url, sequence: TEST_SEQUENCE, user, code });
  };

  beforeAll(async () => {
    backend = redisBackend(createRedisClient(inject("redisUrl")), prefix, {
      log: silentLogger(),
      now: Date.now,
    });
    await backend.connect();
    gw = await startListeningGateway({ users: USERS, store: backend.store });
  });
  afterAll(async () => {
    const client = backend.redis?.client;
    const keys = (await client?.keys(`${prefix}*`)) ?? [];
    if (keys.length > 0) await client?.del(...keys);
    await gw.stop(); // closes the store, and with it the client
  });

  it("finds the last step's challenge every time, scripts cached or not", async () => {
    // The intermediate steps are answered before they are recorded; pipelined, all of a
    // knock's steps reach the store back to back. They must still be applied in order.
    // SCRIPT FLUSH makes the first calls fail with NOSCRIPT and be re-sent by ioredis.
    for (let i = 0; i < 10; i++) {
      if (i % 3 === 0) await backend.redis?.client.script("FLUSH");
      const grant = await knockAs(gw.url);
      expect(grant).toMatchObject({ door: "ssh", ip: "127.0.0.1" });
    }
  });

  it("uses one connection and sends every GET before the first answer arrives", async () => {
    const proxy = await startDelayProxy(Number(new URL(gw.url).port), DELAY_MS);
    try {
      const started = performance.now();
      await knockAs(`http://127.0.0.1:${proxy.port}`);
      const elapsed = performance.now() - started;
      expect(proxy.connections()).toBe(1);
      const firstAnswer = proxy.chunks.find((c) => c.direction === "down");
      const sentBefore = proxy.chunks
        .filter((c) => c.direction === "up" && c.arrived < (firstAnswer?.forwarded ?? 0))
        .map((c) => c.bytes.toString("latin1"))
        .join("");
      expect(sentBefore.match(/^GET /gm)).toHaveLength(TEST_SEQUENCE.length);
      expect(sentBefore).not.toContain("POST ");
      // Connect, the GETs, the POST: three round trips of 2 x 50 ms (plus local work, which
      // a loaded machine stretches, so the count comes from the capture).
      expect(countRoundTrips(proxy.chunks)).toBe(3);
      expect(elapsed).toBeGreaterThanOrEqual(3 * 2 * DELAY_MS);
    } finally {
      await proxy.close();
    }
  });
});
