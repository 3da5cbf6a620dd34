import { randomUUID } from "node:crypto";
import type { Cluster } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LimitsConfig } from "../../src/config/types.js";
import { RateLimitedAttempts } from "../../src/defences/limiter.js";
import { agentAclArgs, agentUser } from "../../src/fleet/acl.js";
import { FleetAgent } from "../../src/fleet/agent.js";
import { FleetPublisher } from "../../src/fleet/publisher.js";
import { listAgents } from "../../src/fleet/status.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { currentTotp } from "../../src/knock/totp.js";
import { silentLogger } from "../../src/log.js";
import { redisLimiters } from "../../src/store/backend.js";
import { redisKeys } from "../../src/store/keys.js";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import { nodesReady } from "../../src/store/redis-client.js";
import type { GrantRecord } from "../../src/store/types.js";
import { ALICE_SECRET, BOB_SECRET, RecordingFirewall, testConfig } from "../support/gateway.js";
import { startRedisCluster, type RedisClusterHandle } from "../support/redis-cluster.js";
import { captureLog, knocker, wrongCode } from "../defences/support.js";
import { describeStoreContract } from "./contract.js";

/**
 * The store on a real 3-master Redis Cluster (`redis-cli --cluster create`): the whole
 * contract, keys spread over the masters, the brute-force limiter's counters, and a
 * gateway's knock flow. A script whose keys hash to different slots fails with CROSSSLOT
 * here, and a command sent to the wrong master with MOVED, so the suite passing means
 * every multi-key script keeps its keys under one hash tag.
 */
let cluster: RedisClusterHandle | undefined;
beforeAll(async () => {
  cluster = await startRedisCluster(3);
}, 30_000);
afterAll(async () => {
  await cluster?.stop();
});

const nodes = () => cluster?.nodes ?? [];

/** A Cluster client connected (bounded by the store's own connect timeout). */
async function connected(): Promise<{ client: Cluster; store: RedisStore; prefix: string }> {
  const client = createRedisClient({ cluster: nodes() });
  const prefix = `test:${randomUUID()}:`;
  const store = new RedisStore(client, prefix);
  await store.connect();
  return { client, store, prefix };
}

describeStoreContract("RedisStore (3-master Redis Cluster)", async () => {
  const { store } = await connected();
  return {
    store,
    now: () => Date.now(),
    advanceTime: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
    close: () => store.close(),
  };
});

describe("webknock on a 3-master Redis Cluster", () => {
  it("spreads clients' keys over the masters (the hash tags are per client, not one slot)", async () => {
    const { client, store } = await connected();
    try {
      for (let i = 1; i <= 30; i++) await store.ban(`203.0.113.${i}`, 60_000, "admin");
      const perMaster = await Promise.all(client.nodes("master").map((node) => node.dbsize()));
      expect(perMaster).toHaveLength(3);
      expect(perMaster.every((count) => count > 0)).toBe(true);
      expect((await store.listBans({ limit: 1000 })).bans).toHaveLength(30);
    } finally {
      await store.close();
    }
  });

  it("keeps the brute-force limiter's counters on the Cluster, shared by every client", async () => {
    const limits: LimitsConfig = {
      ...testConfig().limits,
      maxFailures: 3,
      lockoutMs: 1000,
      maxLockoutMs: 2000,
    };
    const one = await connected();
    const two = createRedisClient({ cluster: nodes() });
    const keys = redisKeys(one.prefix);
    try {
      await new Promise((resolve) => two.once("ready", resolve));
      await nodesReady(two);
      const a = new RateLimitedAttempts(limits, redisLimiters(one.client, keys), silentLogger());
      const b = new RateLimitedAttempts(limits, redisLimiters(two, keys), silentLogger());
      for (let i = 0; i < 3; i++) {
        const limiter = i % 2 === 0 ? a : b;
        expect(await limiter.check("carol", `203.0.113.${50 + i}`)).toBe(true);
        await limiter.fail("carol", `203.0.113.${50 + i}`);
      }
      // Locked out on both, from any address.
      expect(await a.check("carol", "198.51.100.9")).toBe(false);
      expect(await b.check("carol", "198.51.100.9")).toBe(false);
      expect(await b.check("dave", "198.51.100.9")).toBe(true);
    } finally {
      two.disconnect();
      await one.store.close();
    }
  });

  it("carries fleet events to an agent that logs in as its ACL user on every node", async () => {
    const { client: admin, store, prefix } = await connected();
    const password = randomUUID();
    // ACL rules are not replicated or shared: `webknock agent add` says to run it on every node.
    for (const node of admin.nodes("master"))
      await node.call("ACL", "SETUSER", ...agentAclArgs(prefix, "web1", password));
    const redis = createRedisClient(
      { cluster: nodes(), username: agentUser("web1"), password },
      { commandTimeout: 3000, socketTimeout: 5000 },
    );
    const agent = new FleetAgent({
      host: "web1",
      keyPrefix: prefix,
      redis,
      firewall: new RecordingFirewall(),
      ports: [{ proto: "tcp", port: 22 }],
      now: Date.now,
      log: silentLogger(),
      sweepIntervalMs: 100,
      blockMs: 200,
    });
    try {
      await new Promise((resolve) => redis.once("ready", resolve));
      const publisher = new FleetPublisher(admin, prefix, Date.now);
      const open = (ip: string): GrantRecord => ({
        door: "ssh",
        ip,
        user: "alice",
        ports: [{ proto: "tcp", port: 22 }],
        grantedAt: Date.now(),
        expiresAt: Date.now() + 60_000,
        hosts: ["web1", "web2"],
      });
      const before = open("192.0.2.1");
      await publisher.opened(before, ["web1", "web2"]);
      await agent.start(); // the snapshot, in one MULTI
      const after = open("192.0.2.2");
      await publisher.opened(after, ["web1", "web2"]); // the stream, by XREAD
      expect(await publisher.awaitConfirmations(after, ["web1"], 2000)).toEqual({ web1: "open" });
      expect(await publisher.confirmations(before, ["web1", "web2"])).toEqual({
        web1: "open",
        web2: "pending",
      });
      const [status] = await listAgents(admin, prefix, ["web1"]);
      expect(status).toMatchObject({ host: "web1", lag: 0, applied: 2 });
    } finally {
      await agent.stop();
      redis.disconnect();
      for (const node of admin.nodes("master"))
        await node.call("ACL", "DELUSER", agentUser("web1"));
      await store.close();
    }
  });

  describe("a gateway with store.redis.cluster", () => {
    let gateway: Gateway | undefined;
    let port = 0;
    let nextIp = 1;
    const firewall = new RecordingFirewall();
    const logged = captureLog();
    const client = () => knocker(() => port, `198.51.100.${nextIp++}`);

    beforeAll(async () => {
      const config = testConfig({
        store: { redis: { cluster: cluster?.seeds ?? [] }, keyPrefix: `c${Date.now()}:` },
        limits: { maxFailures: 2 },
      });
      gateway = createGateway(config, { log: logged.log, now: Date.now, firewall });
      const [url] = await gateway.start();
      port = Number(new URL(url ?? "").port);
    });
    afterAll(async () => {
      await gateway?.stop();
    });

    it("knocks, issues a challenge, grants on the code, and refuses its replay", async () => {
      const code = await currentTotp(ALICE_SECRET, Date.now());
      const first = client();
      const challenge = await first.walk();
      expect(challenge).toBeTypeOf("string");
      expect((await first.redeem(challenge ?? "", { code })).status).toBe(200);
      expect(firewall.opened).toHaveLength(2); // tcp/22 and udp/60001
      expect((await gateway?.store.listGrants())?.map((g) => g.user)).toEqual(["alice"]);

      const replay = client();
      const again = await replay.walk();
      expect((await replay.redeem(again ?? "", { code })).status).toBe(403);
      expect(firewall.opened).toHaveLength(2);
      const reasons = logged.events().map((e) => e.reason);
      expect(reasons).toContain("replay");
    });

    it("locks a user out after maxFailures wrong codes, even with the right one next", async () => {
      for (let i = 0; i < 2; i++) {
        const c = client();
        const challenge = await c.walk();
        const reply = await c.redeem(challenge ?? "", {
          user: "bob",
          code: await wrongCode(BOB_SECRET),
        });
        expect(reply.status).toBe(403);
      }
      const c = client();
      const challenge = await c.walk();
      const right = await currentTotp(BOB_SECRET, Date.now());
      expect((await c.redeem(challenge ?? "", { user: "bob", code: right })).status).toBe(403);
      expect(logged.events().filter((e) => e.reason === "locked")).toHaveLength(1);
    });
  });
});
