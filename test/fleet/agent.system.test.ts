import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";
import { agentUser } from "../../src/fleet/acl.js";
import { FleetAgent } from "../../src/fleet/agent.js";
import { encodeGrant } from "../../src/fleet/events.js";
import { hostKeys } from "../../src/fleet/keys.js";
import { FleetPublisher } from "../../src/fleet/publisher.js";
import { listAgents } from "../../src/fleet/status.js";
import { silentLogger } from "../../src/log.js";
import { createRedisClient } from "../../src/store/redis.js";
import type { GrantRecord } from "../../src/store/types.js";
import { RecordingFirewall } from "../support/gateway.js";
import { agentClient, eventually, waitReady } from "./support.js";

const url = inject("redisUrl");
const prefix = `test:${randomUUID()}:`;
const SSH = { proto: "tcp", port: 22 } as const;
let admin: Redis;
let publisher: FleetPublisher;
const cleanup: (() => Promise<unknown>)[] = [];

const grant = (ip: string, forMs: number, door = "ssh"): GrantRecord => ({
  door,
  ip,
  user: "alice",
  ports: [SSH],
  grantedAt: Date.now(),
  expiresAt: Date.now() + forMs,
  hosts: ["web1"],
});

/** An agent for `host` running as its own ACL user, with an in-memory firewall. */
async function startAgent(host: string) {
  const redis = await agentClient(admin, url, prefix, host);
  const firewall = new RecordingFirewall();
  const agent = new FleetAgent({
    host,
    keyPrefix: prefix,
    redis,
    firewall,
    ports: [SSH],
    now: Date.now,
    log: silentLogger(),
    sweepIntervalMs: 100,
    blockMs: 200,
  });
  await agent.start();
  const stop = async () => {
    await agent.stop();
    redis.disconnect();
  };
  cleanup.push(stop);
  return { agent, firewall, redis, stop };
}

const openIps = async (firewall: RecordingFirewall) =>
  (await firewall.list()).filter((r) => r.expiresAt > Date.now()).map((r) => r.ip);

beforeAll(async () => {
  admin = createRedisClient(url);
  await waitReady(admin);
  publisher = new FleetPublisher(admin, prefix, Date.now);
});

afterEach(async () => {
  for (const stop of cleanup.splice(0)) await stop();
});

afterAll(async () => {
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  for (const host of ["web1", "web2", "web3", "web4", "web5"]) {
    await admin.call("ACL", "DELUSER", agentUser(host));
  }
  admin.disconnect();
});

describe("an agent's Redis user (real ACL)", () => {
  it("reads its host's events and writes its own keys, and can grant nothing", async () => {
    const redis = await agentClient(admin, url, prefix, "web1");
    cleanup.push(() => {
      redis.disconnect();
      return Promise.resolve();
    });
    const own = hostKeys(prefix, "web1");
    const other = hostKeys(prefix, "web2");
    await publisher.opened(grant("192.0.2.1", 60_000), ["web1", "web2"]);
    expect(await redis.xrange(own.events, "-", "+")).toHaveLength(1);
    expect(Object.keys(await redis.hgetall(own.grants))).toEqual(["ssh 192.0.2.1"]);
    await redis.hset(own.agent, "heartbeatAt", 1);
    await redis.hset(own.confirmed, "ssh 192.0.2.1", 1);
    const refused = [
      () => redis.xadd(own.events, "*", "k", "open", "g", "{}"),
      () => redis.hset(own.grants, "ssh 198.51.100.9", "{}"),
      () => redis.del(own.events),
      () => redis.set(`${prefix}g`, "x"),
      () => redis.hset(`${prefix}g`, "ssh 198.51.100.9", "{}"),
      () => redis.eval("return 1", 0),
      () => redis.xrange(other.events, "-", "+"),
      () => redis.hset(other.confirmed, "ssh 192.0.2.1", 1),
      () => redis.keys("*"),
    ];
    for (const attempt of refused) await expect(attempt()).rejects.toThrow(/NOPERM/);
  });
});

describe("FleetAgent (real Redis, as its ACL user)", () => {
  it("starts from the snapshot with each grant's remaining time, then follows the stream", async () => {
    const before = grant("192.0.2.10", 5000);
    await publisher.opened(before, ["web3"]);
    const { firewall } = await startAgent("web3");
    const [rule] = await firewall.list();
    // The absolute expiry travels, so the kernel gets the remaining time, not a fresh 5 s.
    expect(rule?.expiresAt).toBe(before.expiresAt);

    const after = grant("192.0.2.11", 5000);
    await publisher.opened(after, ["web3"]);
    expect(await eventually(async () => (await openIps(firewall)).includes("192.0.2.11"))).toBe(
      true,
    );
    expect(await publisher.awaitConfirmations(after, ["web3"], 1000)).toEqual({ web3: "open" });

    await publisher.revoked(before, ["web3"]);
    expect(await eventually(async () => !(await openIps(firewall)).includes("192.0.2.10"))).toBe(
      true,
    );
    // The agent writes its status after it changed the rules: wait for that write.
    const caughtUp = async () => {
      const [status] = await listAgents(admin, prefix, ["web3"]);
      return status?.lag === 0 && status.applied === 1;
    };
    expect(await eventually(caughtUp)).toBe(true);
    const [status] = await listAgents(admin, prefix, ["web3"]);
    expect(status).toMatchObject({ host: "web3", lag: 0, applied: 1, backend: "log" });
    expect(Date.now() - (status?.heartbeatAt ?? 0)).toBeLessThan(2000);
  });

  it("closes grants on time with its own sweeper, and a dead agent's host stays pending", async () => {
    const { firewall, stop } = await startAgent("web4");
    const short = grant("192.0.2.20", 400);
    await publisher.opened(short, ["web4"]);
    expect(await eventually(async () => (await openIps(firewall)).includes("192.0.2.20"))).toBe(
      true,
    );
    expect(await eventually(async () => (await firewall.list()).length === 0, 1500)).toBe(true);

    await stop();
    const late = grant("192.0.2.21", 5000);
    await publisher.opened(late, ["web4"]);
    const started = Date.now();
    expect(await publisher.awaitConfirmations(late, ["web4"], 300)).toEqual({ web4: "pending" });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("re-syncs from the snapshot when events after its cursor were trimmed", async () => {
    const { firewall } = await startAgent("web5");
    const keys = hostKeys(prefix, "web5");
    const missed = grant("192.0.2.30", 10_000);
    // The event is trimmed in the same transaction that adds it: the agent never reads it.
    await admin
      .multi()
      .hset(keys.grants, "ssh 192.0.2.30", encodeGrant(missed))
      .xadd(keys.events, "*", "k", "open", "g", "{}")
      .xtrim(keys.events, "MAXLEN", 0)
      .exec();
    expect(await eventually(async () => (await openIps(firewall)).includes("192.0.2.30"))).toBe(
      true,
    );
  });
});
