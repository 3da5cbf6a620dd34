/**
 * Item 8, the fleet: grant-to-kernel latency with three agents, an agent's resync with
 * 10,000 live grants, and the stream's memory under a steady knock rate. Agents are real
 * processes (bench/fleet-agent-child.ts) on real kernel sets in namespaces; the gateway's
 * side is the real FleetPublisher.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { agentAclArgs, agentUser } from "../src/fleet/acl.js";
import { hostKeys } from "../src/fleet/keys.js";
import { FleetPublisher } from "../src/fleet/publisher.js";
import { createRedisClient } from "../src/store/redis.js";
import type { GrantRecord } from "../src/store/types.js";
import { createNetns, deleteNetns, type Netns } from "../test/support/netns.js";
import { BENCH_PORT, type BenchParams } from "./config.js";
import { verdict, type Row } from "./report.js";
import { fmt, percentile, preciseNow, sleep } from "./stats.js";

const CHILD = fileURLToPath(new URL("./fleet-agent-child.ts", import.meta.url));
const PREFIX = "wkb-fleet:";
/** Three hosts, two kernel backends. */
const HOSTS = [
  { host: "web1", backend: "nftables" },
  { host: "web2", backend: "ipset" },
  { host: "web3", backend: "nftables" },
] as const;

/** One agent process and the lines it printed. */
interface AgentChild {
  readonly child: ChildProcess;
  /** Resolves with the first printed object that `match` accepts; rejects after `ms`. */
  next(
    match: (line: Record<string, unknown>) => boolean,
    ms: number,
  ): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

function startAgentChild(options: object): AgentChild {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on("line", (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return; // not ours
    }
    for (const wake of waiters) wake();
  });
  return {
    child,
    async next(match, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const index = lines.findIndex(match);
        if (index >= 0) return lines.splice(index, 1)[0] ?? {};
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(
            `fleet agent: no expected line within ${ms} ms (exit ${String(child.exitCode)}, ${lines.length} other lines): ${stderr.slice(-2000)}`,
          );
        }
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
          setTimeout(wake, 50);
        });
      }
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await Promise.race([exited, sleep(5000)]);
    },
  };
}

/** The n-th grant's IP (10.150.x.y): distinct for up to 62,500 grants. */
const ipOf = (n: number): string =>
  `10.${150 + Math.floor(n / 62_500)}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;

const grantOf = (ip: string, forMs: number, hosts: readonly string[]): GrantRecord => ({
  door: "bench",
  ip,
  user: "bench",
  ports: [BENCH_PORT],
  grantedAt: Date.now(),
  expiresAt: Date.now() + forMs,
  hosts: [...hosts],
});

/** A client on the bench Redis, once it answers (the fail-closed options have no offline queue). */
async function readyClient(redisUrl: string): Promise<Redis> {
  // The gateway's fail-closed timeouts, relaxed: bulk loading must not fail on a busy machine.
  const client = createRedisClient(redisUrl, { commandTimeout: 10_000 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`bench Redis not ready: ${client.status}`));
    }, 10_000);
    client.once("ready", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return client;
}

/** An ACL user for `host` on the bench Redis; the URL it logs in with. */
async function aclUrl(admin: Redis, redisUrl: string, host: string): Promise<string> {
  const password = randomBytes(12).toString("hex");
  await admin.call("ACL", "SETUSER", ...agentAclArgs(PREFIX, host, password));
  const url = new URL(redisUrl);
  url.username = agentUser(host);
  url.password = password;
  return url.toString();
}

/** Items 8a and 8b: grant-to-kernel latency with three agents; resync with many live grants. */
export async function fleetBench(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
  canNetns: boolean,
): Promise<Row[]> {
  say("8. fleet");
  const latencyWhat = `grant -> element in a remote agent's kernel set, 3 agents (nftables, ipset, nftables), ${params.fleetGrants} grants`;
  const resyncWhat = `agent restart with ${params.fleetResyncGrants} live grants for its host (empty kernel set, nftables) until synced`;
  const rows: Row[] = [];
  if (!canNetns) {
    rows.push({
      id: "8.latency",
      what: latencyWhat,
      figure: "needs root and ip netns",
      verdict: "SKIPPED",
    });
    rows.push({
      id: "8.resync",
      what: resyncWhat,
      figure: "needs root and ip netns",
      verdict: "SKIPPED",
    });
  } else {
    const admin = await readyClient(redisUrl);
    const spaces: Netns[] = [];
    const agents: AgentChild[] = [];
    try {
      const publisher = new FleetPublisher(admin, PREFIX, Date.now);
      const hosts = HOSTS.map((h) => h.host);
      const started: { host: string; agent: AgentChild; options: object }[] = [];
      for (const { host, backend } of HOSTS) {
        const ns = await createNetns();
        spaces.push(ns);
        const options = {
          host,
          backend,
          url: await aclUrl(admin, redisUrl, host),
          prefix: PREFIX,
          netns: ns.name,
        };
        const agent = startAgentChild(options);
        agents.push(agent);
        started.push({ host, agent, options });
      }
      for (const { agent } of started) await agent.next((l) => "synced" in l, 60_000);

      // 8a: one grant at a time, each published as the gateway does; latency per host.
      const samples: number[] = [];
      let missing = 0;
      for (let i = 0; i < params.fleetGrants; i++) {
        const ip = ipOf(i);
        const t0 = preciseNow();
        await publisher.opened(grantOf(ip, 600_000, hosts), hosts);
        for (const { agent } of started) {
          const line = await agent.next((l) => l.open === ip, 5000);
          if (line.inKernel !== true) missing++;
          samples.push(Number(line.at) - t0);
        }
        await sleep(10); // a knock rate, not a burst
      }
      const p50 = percentile(samples, 50);
      const p99 = percentile(samples, 99);
      say(
        `  grant -> kernel: p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms (${samples.length} samples)`,
      );
      rows.push({
        id: "8.latency",
        what: latencyWhat,
        figure: `p50 ${fmt(p50, 1)} ms, p99 ${fmt(p99, 1)} ms, max ${fmt(Math.max(...samples), 1)} ms; ${missing} not found in the kernel right after`,
        target: "p50 <= 20 ms, p99 <= 100 ms",
        verdict: verdict(p50 <= 20 && p99 <= 100 && missing === 0),
      });

      // 8b: web1 dies; its host gets many live grants; it restarts on an empty kernel set.
      const web1 = started[0];
      if (web1 === undefined) throw new Error("no web1");
      await web1.agent.stop();
      const ns1 = spaces[0] as Netns;
      await ns1.exec("nft", ["flush", "set", "inet", "webknock", "allowed4"]);
      const n = params.fleetResyncGrants;
      for (let i = 0; i < n; i += 500) {
        await Promise.all(
          Array.from({ length: Math.min(500, n - i) }, (_, j) =>
            publisher.opened(grantOf(ipOf(100_000 + i + j), 600_000, ["web1"]), ["web1"]),
          ),
        );
      }
      const restarted = startAgentChild(web1.options);
      agents.push(restarted);
      const synced = await restarted.next((l) => "synced" in l, 60_000);
      const syncMs = Number(synced.synced);
      const inKernel =
        (await ns1.exec("nft", ["list", "set", "inet", "webknock", "allowed4"])).split(" . tcp . ")
          .length - 1;
      const expected = n + params.fleetGrants;
      say(`  resync of ${expected} grants: ${fmt(syncMs, 0)} ms, ${inKernel} in the kernel`);
      rows.push({
        id: "8.resync",
        what: resyncWhat,
        figure: `${fmt(syncMs, 0)} ms from agent.start() to synced; ${inKernel}/${expected} elements in the kernel`,
        target: "<= 2000 ms",
        verdict: verdict(syncMs <= 2000 && inKernel === expected),
      });
    } finally {
      for (const agent of agents) await agent.stop();
      await deleteNetns(...spaces);
      await clearFleetKeys(admin).catch(() => undefined);
      admin.disconnect();
    }
  }
  rows.push(await streamMemory(params, redisUrl, say));
  return rows;
}

async function clearFleetKeys(admin: Redis): Promise<void> {
  const keys = await admin.keys(`${PREFIX}*`);
  for (let i = 0; i < keys.length; i += 500) await admin.del(...keys.slice(i, i + 500));
  for (const { host } of HOSTS) await admin.call("ACL", "DELUSER", agentUser(host));
}

/**
 * 8c: a steady knock rate on one host's stream with a short retention (the stream is
 * trimmed by age, like the default hour, scaled down): MEMORY USAGE of the stream sampled
 * once per retention period must level off; bytes per event = MEMORY USAGE / XLEN.
 */
async function streamMemory(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Row> {
  const admin = await readyClient(redisUrl);
  const retentionMs = params.fleetRetentionMs;
  const publisher = new FleetPublisher(admin, PREFIX, Date.now, retentionMs);
  const key = hostKeys(PREFIX, "mem").events;
  const samples: { memory: number; length: number }[] = [];
  try {
    const periods = 4;
    const perTick = Math.max(1, Math.round((params.fleetRate * 50) / 1000));
    let n = 0;
    for (let period = 0; period < periods; period++) {
      const end = Date.now() + retentionMs;
      while (Date.now() < end) {
        const batch = Array.from({ length: perTick }, () =>
          grantOf(ipOf(200_000 + (n++ % 50_000)), 1000, ["mem"]),
        );
        await Promise.all(batch.map((g) => publisher.opened(g, ["mem"])));
        await sleep(50);
      }
      const memory = Number(await admin.call("MEMORY", "USAGE", key, "SAMPLES", "0"));
      samples.push({ memory, length: await admin.xlen(key) });
    }
    const first = samples[1]; // after one full retention period the stream is at its size
    const last = samples.at(-1);
    const growth = first && last ? last.memory / first.memory : Number.NaN;
    const perEvent = last ? last.memory / last.length : Number.NaN;
    say(
      `  stream: ${samples.map((s) => `${Math.round(s.memory / 1024)} KiB/${s.length}`).join(", ")}; ${fmt(perEvent, 0)} B/event`,
    );
    return {
      id: "8.stream",
      what: `one host's stream under ${params.fleetRate} grants/s, retention ${retentionMs / 1000} s, sampled each period (${n} events)`,
      figure: `${samples.map((s) => `${fmt(s.memory / 1024, 0)} KiB (${s.length})`).join(" -> ")}; ${fmt(perEvent, 0)} bytes per grant event`,
      ratio: `${fmt(growth, 2)}x (last vs second period)`,
      target: "bounded: <= 1.5x",
      verdict: verdict(growth <= 1.5),
    };
  } finally {
    await clearFleetKeys(admin).catch(() => undefined);
    admin.disconnect();
  }
}
