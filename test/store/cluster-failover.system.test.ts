import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { currentTotp } from "../../src/knock/totp.js";
import { DEFAULT_PREFIX_LENGTHS, subjectOf } from "../../src/net/prefix.js";
import { redisKeys } from "../../src/store/keys.js";
import { LAST, RecordingFirewall, SEQUENCE, testConfig } from "../support/gateway.js";
import { startRedisCluster, type RedisClusterHandle } from "../support/redis-cluster.js";
import { captureLog, knocker, sleep } from "../defences/support.js";

/** Twelve users, one TOTP code each per 30 s; the test sorts them by the master of their claim key. */
const USERS = new Map(
  ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L"].map((c, i) => [
    `user${i}`,
    `GEZDGNBVGY3TQOJQGEZDGNBVGY3TQO${c}A`,
  ]),
);
const secretOf = (user: string) => USERS.get(user) ?? "";
const PREFIX = "cfo:";
const keys = redisKeys(PREFIX);

/** Polls `check` every 100 ms for at most `ms`; true once it held. */
async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    if (await check()) return true;
    await sleep(100);
  }
  return false;
}

/** A plain connection to one node, for CLUSTER and INFO questions; never reconnects. */
async function ask<T>(port: number, question: (node: Redis) => Promise<T>): Promise<T> {
  const node = new Redis({ port, host: "127.0.0.1", lazyConnect: true, retryStrategy: () => null });
  node.on("error", () => undefined);
  try {
    await node.connect();
    return await question(node);
  } finally {
    node.disconnect();
  }
}

/** A master and its replicas (ports), as CLUSTER NODES lists them. */
interface Shard {
  readonly master: number;
  readonly replicas: readonly number[];
}

/**
 * The shard serving each of `keys`, per CLUSTER KEYSLOT and CLUSTER NODES on `port`
 * (not CLUSTER SLOTS: it leaves out a replica until gossip reports its offset). Lines read
 * `id host:port@bus flags master-id ping pong epoch link slot...`; failed nodes are skipped.
 */
async function shardsOf(port: number, keys: readonly string[]): Promise<Shard[]> {
  return ask(port, async (node) => {
    const lines = String(await node.call("CLUSTER", "NODES"))
      .split("\n")
      .map((line) => line.trim().split(" "))
      .filter(([, , flags]) => flags !== undefined && !flags.includes("fail"));
    const portOf = (addr = "") => Number(addr.split("@")[0]?.split(":")[1]);
    const slots = await Promise.all(keys.map((key) => node.call("CLUSTER", "KEYSLOT", key)));
    return slots.map((slot) => {
      const master = lines.find(
        ([, , flags, , , , , , ...ranges]) =>
          flags?.includes("master") &&
          ranges.some((range) => {
            const [start = "", end = start] = range.split("-");
            return Number(start) <= Number(slot) && Number(slot) <= Number(end);
          }),
      );
      if (master === undefined) throw new Error(`no master serves slot ${String(slot)}`);
      const replicas = lines.filter(
        ([, , flags, masterId]) => flags?.includes("slave") && masterId === master[0],
      );
      return { master: portOf(master[1]), replicas: replicas.map(([, addr]) => portOf(addr)) };
    });
  });
}

/**
 * A gateway on a real Redis Cluster of 3 masters with a replica each (cluster-node-timeout
 * 1 s). The master serving a knock's keys is SIGKILLed mid-run: knocks fail closed (503,
 * nothing opened) until its replica is promoted, then resume by themselves; a claim made
 * just before the kill is still a replay on the promoted replica (the claim waited for the
 * replica, WAIT sent to the shard that owns it); a knock walked before the kill completes
 * after it; the promoted master, alone, fails claims in its slots closed until the killed
 * node rejoins as its replica.
 */
describe("store.redis.cluster through a master failover (real processes)", () => {
  let cluster: RedisClusterHandle | undefined;
  let gateway: Gateway | undefined;
  let port = 0;
  const firewall = new RecordingFirewall();
  const logged = captureLog();
  const client = (ip: string) => knocker(() => port, ip);
  const denials = (reason: string) =>
    logged.events().filter((e) => e.event === "denial" && e.reason === reason).length;
  const seed = () => cluster?.servers[1]?.port ?? 0; // never the victim: see `victim`

  /** One whole knock as `user` from `ip` with `code`; the final status. */
  const knock = async (ip: string, user: string, code: string): Promise<number> => {
    const c = client(ip);
    const challenge = await c.walk();
    if (challenge === undefined) return (await c.get(LAST)).status;
    return (await c.redeem(challenge, { user, code })).status;
  };

  beforeAll(async () => {
    cluster = await startRedisCluster(3, { replicas: 1, nodeTimeoutMs: 1000 });
    const config = testConfig({
      store: { redis: { cluster: cluster.seeds }, keyPrefix: PREFIX },
      doors: { ssh: { sequence: [...SEQUENCE], open: ["tcp/22"], users: [...USERS.keys()] } },
      // alice stays: testConfig's other door names her.
      users: Object.fromEntries(
        [...USERS, ["alice", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"]].map(([name, secret]) => [
          name,
          { secret },
        ]),
      ),
    });
    gateway = createGateway(config, { log: logged.log, now: Date.now, firewall });
    const [url] = await gateway.start();
    port = Number(new URL(url ?? "").port);
  }, 30_000);

  afterAll(async () => {
    await gateway?.stop();
    await cluster?.stop();
  });

  it(
    "fails closed while a master is down, recovers on promotion, loses and doubles nothing",
    {
      timeout: 60_000,
    },
    async () => {
      const servers = cluster?.servers ?? [];
      // The victim: the master of user0's TOTP claim key. Sort users and client addresses by
      // the master of their keys (claim key; progress and challenge keys carry the address's tag).
      const claimer = "user0";
      const [victim] = await shardsOf(seed(), [keys.totp(claimer)]);
      if (victim === undefined) throw new Error("no shard for the claim key");
      expect(victim.replicas).toHaveLength(1);
      expect(victim.master).not.toBe(seed());
      const others = [...USERS.keys()].filter((user) => user !== claimer);
      const userShards = await shardsOf(
        seed(),
        others.map((user) => keys.totp(user)),
      );
      const onVictim = others.filter((_, i) => userShards[i]?.master === victim.master);
      const elsewhere = others.filter((_, i) => userShards[i]?.master !== victim.master);
      const candidates = ["198.51.100", "203.0.113", "192.0.2"].flatMap((net) =>
        Array.from({ length: 254 }, (_, i) => `${net}.${i + 1}`),
      );
      const tagged = candidates.map((ip) =>
        keys.challenge(subjectOf(ip, DEFAULT_PREFIX_LENGTHS), "ssh", ip),
      );
      const ipShards = await shardsOf(seed(), tagged);
      const ips = candidates.filter((_, i) => ipShards[i]?.master === victim.master);
      // Fixed slots, and redis-cli splits them the same way every time: these always hold.
      expect(onVictim.length).toBeGreaterThanOrEqual(2);
      expect(elsewhere.length).toBeGreaterThanOrEqual(1);
      expect(ips.length).toBeGreaterThan(200);
      // Each request from its own address: no progress or failure counts carry over.
      let nextIp = 0;
      const ip = () => ips[nextIp++ % ips.length] ?? "";
      const [lone, rejoined] = onVictim as [string, string];
      const [healthy] = elsewhere as [string];

      // Before the kill: a stranger's step answers the decoy, a knock is walked to its
      // challenge (kept in the victim's slot), and user0's knock grants.
      const decoy = (await client(ip()).get(LAST)).status;
      expect(decoy).not.toBe(503);
      const pending = client(ip());
      const challenge = await pending.walk();
      expect(challenge).toBeTypeOf("string");
      const code = await currentTotp(secretOf(claimer), Date.now());
      expect(await knock(ip(), claimer, code)).toBe(200);
      expect(firewall.opened).toHaveLength(1);
      const replicaAck = logged.events().find((e) => e.event === "replica-ack");
      expect(replicaAck).toMatchObject({ replicas: 1, timeoutMs: 200 }); // "auto" chose to wait

      // SIGKILL: user0's claim (and the challenge written before it on the same connection)
      // reached the replica already, because the claim waited for it.
      const killedAt = Date.now();
      servers.find((s) => s.port === victim.master)?.process.kill("SIGKILL");

      // The slot has no master: every answer is 503 (never a grant, never a crash) until the
      // replica is promoted (node timeout 1 s, then an election) and the slot map is re-read.
      expect(await knock(ip(), claimer, code)).toBe(503);
      const statuses: number[] = [];
      const recovered = await within(20_000, async () => {
        statuses.push((await client(ip()).get(LAST)).status);
        return statuses.at(-1) !== 503;
      });
      const recoveryMs = Date.now() - killedAt;
      console.log(`cluster failover: knocks served again ${recoveryMs} ms after the kill`);
      expect(recovered).toBe(true);
      expect(statuses.slice(0, -1).every((s) => s === 503)).toBe(true);
      expect(statuses.at(-1)).toBe(decoy);
      expect(firewall.opened).toHaveLength(1);
      const [promoted] = await shardsOf(seed(), [keys.totp(claimer)]);
      expect(promoted?.master).toBe(victim.replicas[0]);
      expect(promoted?.replicas).toEqual([]);

      // Nothing lost: user0's grant is listed and its claimed code is a replay, not a grant.
      expect((await gateway?.store.listGrants())?.map((g) => g.user)).toEqual([claimer]);
      const replays = denials("replay");
      expect(await knock(ip(), claimer, code)).toBe(403);
      expect(denials("replay")).toBe(replays + 1);

      // The knock walked before the kill completes, its claim on a shard that kept its replica.
      const healthyCode = await currentTotp(secretOf(healthy), Date.now());
      const done = await pending.redeem(challenge ?? "", { user: healthy, code: healthyCode });
      expect(done.status).toBe(200);
      // A claim on the promoted master, which has no replica yet, fails closed: WAIT runs on
      // the shard that owns the claim, not on any node.
      expect(await knock(ip(), lone, await currentTotp(secretOf(lone), Date.now()))).toBe(503);
      expect(firewall.opened).toHaveLength(2);

      // The killed node comes back (as systemd restarts it) and rejoins as the new master's
      // replica; once synced, claims in its slots are acknowledged again.
      await cluster?.restart(victim.master);
      // Synced, not merely connected: a write in the claim's slot is acknowledged by a
      // replica within the gateway's 200 ms (a replica still loading acknowledges nothing).
      const probe = `{${keys.totp(rejoined)}}:probe`;
      const synced = await within(20_000, () =>
        ask(promoted?.master ?? 0, async (node) => {
          await node.set(probe, "1", "PX", 1000);
          return Number(await node.call("WAIT", "1", "200")) >= 1;
        }).catch(() => false),
      );
      console.log(
        `cluster failover: the killed node acknowledges as a replica ${Date.now() - killedAt} ms after the kill`,
      );
      expect(synced).toBe(true);
      const code2 = await currentTotp(secretOf(rejoined), Date.now());
      expect(await knock(ip(), rejoined, code2)).toBe(200);

      // Nothing doubled: one open per grant, and the grants are exactly these three.
      expect(firewall.opened).toHaveLength(3);
      const users = (await gateway?.store.listGrants())?.map((g) => g.user).sort();
      expect(users).toEqual([claimer, healthy, rejoined].sort());
      expect(logged.events().filter((e) => String(e.msg).startsWith("unexpected"))).toEqual([]);
    },
  );
});
