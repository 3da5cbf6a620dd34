import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { currentTotp } from "../../src/knock/totp.js";
import { silentLogger } from "../../src/log.js";
import { ALICE_SECRET, LAST, RecordingFirewall, SEQUENCE, testConfig } from "../support/gateway.js";
import { freePort } from "../support/redis-server.js";
import { knocker, sleep } from "../defences/support.js";

/** One TOTP code per user per 30 s: a user per successful knock. */
const USERS = new Map(
  ["erin", "frank", "grace"].map((name, i) => [
    name,
    `GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ${"QRS"[i] ?? "Q"}`,
  ]),
);
const GROUP = "webknock";

/** Starts a process and waits (bounded) until `ready` answers true. */
async function startProcess(
  file: string,
  args: readonly string[],
  ready: () => Promise<boolean>,
): Promise<ChildProcess> {
  const child = spawn(file, [...args], { stdio: "ignore" });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) break;
    if (await ready()) return child;
    await sleep(100);
  }
  child.kill("SIGKILL");
  throw new Error(`${file} ${args.join(" ")} did not start (apt-get install redis-sentinel?)`);
}

/** True when a server on `port` answers PING (and, if given, `check` on its INFO). */
async function answers(port: number, check: (info: string) => boolean = () => true) {
  const probe = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    retryStrategy: () => null,
  });
  probe.on("error", () => undefined);
  try {
    await probe.connect();
    return check(await probe.info("replication"));
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * A real Sentinel setup: 1 master, 1 replica, 3 redis-sentinel processes, and a gateway
 * whose `store.redis` names the group. Killing the master makes knocks fail closed (503)
 * until the sentinels promote the replica; then they work again by themselves.
 */
describe("store.redis through Redis Sentinel (real processes)", () => {
  const children: ChildProcess[] = [];
  let master: ChildProcess;
  let replicaPort = 0;
  let sentinelPort = 0;
  let dir: string;
  let gateway: Gateway | undefined;
  let port = 0;
  let nextIp = 1;
  const users = [...USERS];
  const firewall = new RecordingFirewall();
  const client = () => knocker(() => port, `198.51.100.${nextIp++}`);

  /** One whole knock; resolves the redemption's status, or the failing step's. */
  const knock = async (): Promise<number> => {
    const c = client();
    const challenge = await c.walk().catch(() => undefined);
    if (challenge === undefined) return (await c.get(LAST)).status;
    const [user, secret] = users.shift() ?? ["", ""];
    return (await c.redeem(challenge, { user, code: await currentTotp(secret, Date.now()) }))
      .status;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "webknock-sentinel-"));
    const server = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    const masterPort = await freePort();
    master = await startProcess("redis-server", ["--port", String(masterPort), ...server], () =>
      answers(masterPort),
    );
    children.push(master);
    replicaPort = await freePort();
    children.push(
      await startProcess(
        "redis-server",
        ["--port", String(replicaPort), ...server, "--replicaof", "127.0.0.1", String(masterPort)],
        () => answers(replicaPort, (info) => info.includes("master_link_status:up")),
      ),
    );
    const sentinels: { host: string; port: number }[] = [];
    for (let i = 0; i < 3; i++) {
      sentinelPort = await freePort();
      const file = join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        file,
        [
          `port ${sentinelPort}`,
          "bind 127.0.0.1",
          `dir ${dir}`,
          `sentinel monitor ${GROUP} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${GROUP} 1000`,
          `sentinel failover-timeout ${GROUP} 5000`,
          "",
        ].join("\n"),
      );
      children.push(await startProcess("redis-sentinel", [file], () => answers(sentinelPort)));
      sentinels.push({ host: "127.0.0.1", port: sentinelPort });
    }
    const config = testConfig({
      store: {
        redis: { sentinels: sentinels.map((s) => `${s.host}:${s.port}`), name: GROUP },
        keyPrefix: "sentinel:",
      },
      doors: { ssh: { sequence: [...SEQUENCE], open: ["tcp/22"], users: [...USERS.keys()] } },
      // alice stays: testConfig's other door names her.
      users: Object.fromEntries(
        [...USERS, ["alice", ALICE_SECRET]].map(([name, secret]) => [name, { secret }]),
      ),
    });
    gateway = createGateway(config, { log: silentLogger(), now: Date.now, firewall });
    const [url] = await gateway.start();
    port = Number(new URL(url ?? "").port);
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGKILL");
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("knocks through the group, fails closed when the master dies, recovers on the promoted replica", async () => {
    expect(await knock()).toBe(200);
    const opened = firewall.opened.length;

    master.kill("SIGKILL");
    await sleep(100);
    // Steps before the last answer the decoy without the store (main's edge); the last one
    // waits for it, so that is where an outage shows.
    const during = await client().get(LAST);
    expect(during.status).toBe(503);
    expect(firewall.opened.length).toBe(opened);

    // down-after 1 s, then an election: bounded at 30 s.
    let status = 0;
    const deadline = Date.now() + 30_000;
    for (let i = 0; i < 300 && Date.now() < deadline && status !== 200; i++) {
      const step = await client().get(LAST);
      if (step.status !== 503) status = await knock();
      else await sleep(100);
    }
    expect(status).toBe(200);
    expect(firewall.opened.length).toBeGreaterThan(opened);
    // It really is the promoted replica that answered.
    const sentinel = new Redis({ port: sentinelPort, host: "127.0.0.1" });
    const [, newPort] = (await sentinel.call("SENTINEL", "get-master-addr-by-name", GROUP)) as [
      string,
      string,
    ];
    sentinel.disconnect();
    expect(Number(newPort)).toBe(replicaPort);
  }, 60_000);
});
