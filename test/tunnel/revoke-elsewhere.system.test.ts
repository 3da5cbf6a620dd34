import { randomUUID } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { GatewayConfig } from "../../src/config/types.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import type { KnockStore } from "../../src/store/types.js";
import { RecordingFirewall } from "../support/gateway.js";
import { captureLog, startEcho, tunnelDoorConfig } from "../support/tunnel.js";
import { waitFor } from "../support/wait.js";

const BANNER = Buffer.from("SSH-2.0-OpenSSH_9.2p1\r\n");
const CHECK_MS = 250;

/** A store whose grant lookups can be made to fail, as during a Redis outage. */
function breakable(store: KnockStore): { store: KnockStore; broken: { on: boolean } } {
  const broken = { on: false };
  const wrapped = new Proxy(store, {
    get(target, key) {
      if (key === "getGrant" && broken.on) return () => Promise.reject(new Error("store down"));
      const value: unknown = Reflect.get(target, key);
      return typeof value === "function"
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
  return { store: wrapped, broken };
}

/** An SSH-looking connection through a gateway's plain listener; resolves once it echoes. */
async function tunnelThrough(port: number) {
  const socket: Socket = connect({ host: "127.0.0.1", port });
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  socket.on("error", () => undefined);
  let closed = false;
  socket.once("close", () => (closed = true));
  socket.write(BANNER);
  await waitFor("the tunnel's echo", () => text.length > 0);
  return { socket, closed: () => closed, got: () => text };
}

/**
 * Two gateways on one real Redis: a revoke run on one closes the IP's tunnels on the
 * other within about `tunnels.revokeCheck`; a grant that only expired, or a store that
 * cannot answer, closes nothing.
 */
describe("a revoke on one gateway closes tunnels on another", () => {
  const prefix = `revoke-elsewhere:${randomUUID().slice(0, 8)}:`;
  const client = createRedisClient(inject("redisUrl"), { enableOfflineQueue: true });
  const logsB = captureLog();
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let a: Gateway | undefined;
  let b: Gateway | undefined;
  let portA = 0;
  let portB = 0;
  let skewB = 0;
  let brokenB: { on: boolean };
  let config: GatewayConfig;

  const grantsA = () => {
    if (a === undefined) throw new Error("gateway A did not start");
    return a.grants;
  };
  const door = () => {
    const found = config.doors[0];
    if (found === undefined) throw new Error("no door");
    return found;
  };

  beforeAll(async () => {
    echo = await startEcho();
    config = tunnelDoorConfig(
      { to: `127.0.0.1:${String(echo.port)}`, ssh: true },
      { openFor: "60s" },
      { tunnels: { revokeCheck: `${CHECK_MS}ms` } },
    );
    const storeA = new RedisStore(createRedisClient(inject("redisUrl")), prefix);
    const storeB = new RedisStore(createRedisClient(inject("redisUrl")), prefix);
    await Promise.all([storeA.connect(), storeB.connect()]);
    const flaky = breakable(storeB);
    brokenB = flaky.broken;
    a = createGateway(config, {
      store: storeA,
      firewall: new RecordingFirewall(),
      log: silentLogger(),
      now: Date.now,
    });
    b = createGateway(config, {
      store: flaky.store,
      firewall: new RecordingFirewall(),
      log: logsB.log,
      now: () => Date.now() + skewB,
    });
    portA = Number(new URL((await a.start())[0] ?? "").port);
    portB = Number(new URL((await b.start())[0] ?? "").port);
  }, 30_000);

  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await echo.close();
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
  });

  it("closes the other gateway's tunnel within about one check, audited as a revoke", async () => {
    await grantsA().open(door(), "127.0.0.1", "alice");
    const here = await tunnelThrough(portA);
    const there = await tunnelThrough(portB);
    const revokedAt = Date.now();
    await grantsA().revoke("tun", "127.0.0.1");
    await waitFor("the tunnel on the revoking gateway to close", here.closed, { timeoutMs: 1000 });
    await waitFor("the tunnel on the other gateway to close", there.closed, {
      timeoutMs: CHECK_MS * 8,
    });
    expect(Date.now() - revokedAt).toBeLessThan(CHECK_MS * 8);
    expect(logsB.lines()).toContainEqual(
      expect.objectContaining({ event: "tunnel-close", reason: "revoke", door: "tun" }),
    );
  });

  it("keeps a tunnel whose grant a re-knock extended", async () => {
    await grantsA().open(door(), "127.0.0.1", "alice");
    const there = await tunnelThrough(portB);
    await grantsA().open(door(), "127.0.0.1", "alice"); // a re-knock: same grant, later expiry
    await new Promise((resolve) => setTimeout(resolve, CHECK_MS * 3));
    there.socket.write("still here");
    await waitFor("the tunnel to still echo", () => there.got().endsWith("still here"));
    expect(there.closed()).toBe(false);
    there.socket.destroy();
    await grantsA().revoke("tun", "127.0.0.1");
  });

  it("closes nothing while its store cannot answer, and closes once it can", async () => {
    await grantsA().open(door(), "127.0.0.1", "alice");
    const there = await tunnelThrough(portB);
    brokenB.on = true;
    await grantsA().revoke("tun", "127.0.0.1");
    await new Promise((resolve) => setTimeout(resolve, CHECK_MS * 3));
    there.socket.write("outage");
    await waitFor("the tunnel to still echo", () => there.got().endsWith("outage"));
    expect(there.closed()).toBe(false);
    brokenB.on = false;
    await waitFor("the revoke to be seen", there.closed, { timeoutMs: CHECK_MS * 8 });
  });

  it("keeps a tunnel past its grant's expiry: a record gone at the end is not a revoke", async () => {
    await grantsA().open(door(), "127.0.0.1", "alice");
    const there = await tunnelThrough(portB);
    // B's clock passes the grant's expiry; the record then goes (as a sweeper deletes it).
    skewB = 61_000;
    await grantsA().revoke("tun", "127.0.0.1");
    await new Promise((resolve) => setTimeout(resolve, CHECK_MS * 4));
    there.socket.write("after expiry");
    await waitFor("the tunnel to still echo", () => there.got().endsWith("after expiry"));
    expect(there.closed()).toBe(false);
    there.socket.destroy();
    skewB = 0;
  });
});
