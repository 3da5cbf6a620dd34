import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  canConnect,
  connectNetns,
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  killChild,
  spawnInNetns,
  startAgent,
  type Netns,
  type NetnsAgent,
} from "../support/netns.js";
import {
  addAdminDrop,
  iptablesCommandTemplates,
  knockFrom,
  TEST_SECRETS,
  waitClosed,
  prepareNetnsGateway,
  startNetnsGateway,
  type NetnsGateway,
  type PreparedGateway,
} from "../support/netns-gateway.js";

/**
 * Issue 9 item 1: a gateway restarted (SIGTERM as `systemctl restart` does, or SIGKILL)
 * while a grant is live must still close the port at the grant's own expiry, whatever the
 * backend and whether or not its store survived; and a re-knock after the restart must
 * refresh the one rule rather than add a second. Each case owns its namespaces, gateway
 * and Redis, so cases run concurrently.
 */

const SERVICE_PORT = 2222;
const HTTP_PORT = 8080;
const REDIS_PORT = 6379;
/**
 * A grant must outlive a gateway restart for the test to show adoption (and not merely the
 * start-up reconcile of an overdue rule). The next process is loaded before the old one
 * stops, so a restart costs only the gateway's own start-up; the grant time is a multiple
 * of one measured in this run (a loaded machine is slower), clamped.
 */
const openForFrom = (startMs: number): number =>
  Math.min(30_000, Math.max(8000, Math.ceil((startMs * 10) / 1000) * 1000));
let OPEN_FOR_MS = 5000;
/** The promise under test: closed within this long after the expiry. */
const CLOSE_WITHIN_MS = 2000;
const SEQUENCE = ["/k/one", "/k/two"];
const SECRETS = TEST_SECRETS;

type Backend = "iptables" | "ipset" | "nftables" | "command";
type StoreKind = "memory" | "redis";
/** How early a backend may close: iptables' time match stops at the expiry's whole second. */
const EARLY_MS: Readonly<Record<Backend, number>> = {
  iptables: 1000,
  ipset: 0,
  nftables: 0,
  command: 0,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const configText = (backend: Backend | "log", store: StoreKind, dir: string): string => `
server: { listen: [{ host: 0.0.0.0, port: ${HTTP_PORT} }] }
${store === "redis" ? `store: { redis: "redis://127.0.0.1:${REDIS_PORT}" }` : ""}
firewall:
  backend: ${backend}
  sweepInterval: 250ms
${backend === "command" ? `  command: ${iptablesCommandTemplates(join(dir, "command-grants.json"))}` : ""}
doors:
  ssh: { sequence: [${SEQUENCE.join(", ")}], open: [tcp/${SERVICE_PORT}], openFor: ${OPEN_FOR_MS}ms, users: [alice, bob, carol] }
users:
  alice: { secret: ${SECRETS.alice} }
  bob: { secret: ${SECRETS.bob} }
  carol: { secret: ${SECRETS.carol} }
`;

/** How many rules the kernel holds for `ip`, read straight from the backend's own tool. */
async function kernelRules(gw: Netns, backend: Backend, ip: string): Promise<number> {
  const lines = (text: string) => text.split("\n");
  switch (backend) {
    case "iptables":
      return lines(await gw.exec("iptables", ["-w", "-S", "WEBKNOCK-GRANTS"])).filter((l) =>
        l.includes(` -s ${ip}/32 `),
      ).length;
    case "command":
      return lines(await gw.exec("iptables", ["-w", "-S", "INPUT"])).filter((l) =>
        l.includes(` -s ${ip}/32 `),
      ).length;
    case "ipset":
      return lines(await gw.exec("ipset", ["list", "WEBKNOCK4", "-output", "save"])).filter((l) =>
        l.startsWith(`add WEBKNOCK4 ${ip},`),
      ).length;
    case "nftables":
      return (
        (await gw.exec("nft", ["list", "set", "inet", "webknock", "allowed4"])).split(`${ip} . `)
          .length - 1
      );
  }
}

/**
 * Polls (bounded) until the kernel holds no rule for `ip`, and returns how many are left:
 * iptables' time match closes the port by itself, and the sweeper deletes the inert rule
 * within a sweep or two after that.
 */
async function rulesLeft(gw: Netns, backend: Backend, ip: string): Promise<number> {
  const deadline = Date.now() + 3000;
  let left = await kernelRules(gw, backend, ip);
  for (let i = 0; i < 30 && left > 0 && Date.now() < deadline; i++) {
    await sleep(100);
    left = await kernelRules(gw, backend, ip);
  }
  return left;
}

/** Starts redis-server on the gateway namespace's loopback and waits for PONG (bounded). */
async function startNetnsRedis(gw: Netns, dir: string): Promise<ChildProcess> {
  const child = spawnInNetns(
    gw,
    "redis-server",
    ["--port", String(REDIS_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { cwd: dir, stdio: "ignore" },
  );
  for (let i = 0; i < 100; i++) {
    const ping = await gw.run("redis-cli", ["-p", String(REDIS_PORT), "ping"]);
    if (ping.stdout.includes("PONG")) return child;
    await sleep(100);
  }
  await killChild(child);
  throw new Error("redis-server did not answer PING within 10 s in the gateway namespace");
}

const cases: [Backend, StoreKind, NodeJS.Signals][] = [];
for (const backend of ["iptables", "ipset", "nftables", "command"] as const) {
  for (const store of ["memory", "redis"] as const) {
    for (const signal of ["SIGTERM", "SIGKILL"] as const) cases.push([backend, store, signal]);
  }
}

describe.concurrent("a restarted gateway closes every live grant at its own expiry", () => {
  beforeAll(async () => {
    await deleteStaleNetns();
    const ns = await createNetns();
    const dir = mkdtempSync(join(tmpdir(), "webknock-restart-"));
    try {
      const file = join(dir, "webknock.yaml");
      writeFileSync(file, configText("log", "memory", dir));
      const prepared = await prepareNetnsGateway(ns, file);
      const started = Date.now();
      const gateway = await prepared.start();
      OPEN_FOR_MS = openForFrom(Date.now() - started);
      await gateway.stop("SIGTERM");
    } finally {
      await deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.each(cases)(
    "%s backend, %s store, %s restart",
    async (backend, store, signal) => {
      const spaces: Netns[] = [];
      const agents: NetnsAgent[] = [];
      const gateways: NetnsGateway[] = [];
      const prepared: PreparedGateway[] = [];
      let redis: ChildProcess | undefined;
      const dir = mkdtempSync(join(tmpdir(), "webknock-restart-"));
      try {
        const gw = await createNetns();
        spaces.push(gw);
        const nsA = await createNetns();
        spaces.push(nsA);
        const nsC = await createNetns();
        spaces.push(nsC);
        const linkA = await connectNetns(gw, nsA, 1);
        const linkC = await connectNetns(gw, nsC, 2);
        const service = await startAgent(gw);
        agents.push(service);
        await service.listen(SERVICE_PORT);
        const a = await startAgent(nsA);
        agents.push(a);
        const c = await startAgent(nsC);
        agents.push(c);
        if (store === "redis") redis = await startNetnsRedis(gw, dir);
        if (backend === "command") await addAdminDrop(gw, SERVICE_PORT);
        const file = join(dir, "webknock.yaml");
        writeFileSync(file, configText(backend, store, dir));
        const baseA = `http://${linkA.a4}:${HTTP_PORT}`;
        const baseC = `http://${linkC.a4}:${HTTP_PORT}`;

        const first = await startNetnsGateway(gw, file);
        gateways.push(first);
        // The next process loads its modules now, so the restart below costs only its start.
        const next = await prepareNetnsGateway(gw, file);
        prepared.push(next);
        // A knocks once and never again; C knocks again after the restart.
        const grantA = await knockFrom(a, baseA, SEQUENCE, "alice", SECRETS.alice);
        const grantC = await knockFrom(c, baseC, SEQUENCE, "bob", SECRETS.bob);
        expect([grantA.status, grantC.status], first.output()).toEqual([200, 200]);
        expect(await kernelRules(gw, backend, linkA.b4)).toBe(1);
        expect(await kernelRules(gw, backend, linkC.b4)).toBe(1);

        await first.stop(signal);
        const second = await next.start();
        gateways.push(second);
        // Only meaningful while A's grant is still live: it must be adopted, not reconciled.
        expect(Date.now(), "the restart outlasted the grant").toBeLessThan(
          grantA.expiresAt - 300 - EARLY_MS[backend],
        );
        expect((await canConnect(a, linkA.a4, SERVICE_PORT)).ok).toBe(true);
        expect(await kernelRules(gw, backend, linkA.b4)).toBe(1);

        // Half a grant later, so the refreshed expiry stands well clear of the first one.
        await sleep(Math.max(0, grantC.expiresAt - OPEN_FOR_MS / 2 - Date.now()));
        const again = await knockFrom(c, baseC, SEQUENCE, "carol", SECRETS.carol);
        expect(again.status).toBe(200);
        expect(again.expiresAt).toBeGreaterThan(grantC.expiresAt);
        expect(await kernelRules(gw, backend, linkC.b4)).toBe(1);

        const closedA = await waitClosed(
          a,
          linkA.a4,
          SERVICE_PORT,
          grantA.expiresAt + CLOSE_WITHIN_MS + 3000,
        );
        expect(closedA, `A still connects ${CLOSE_WITHIN_MS + 3000} ms after expiry`).toBeDefined();
        expect((closedA ?? Infinity) - grantA.expiresAt).toBeLessThanOrEqual(CLOSE_WITHIN_MS);
        expect(await rulesLeft(gw, backend, linkA.b4)).toBe(0);

        // C's first expiry has passed, but the re-knock moved it: still open, one rule.
        await sleep(Math.max(0, grantC.expiresAt + 500 - Date.now()));
        expect(Date.now()).toBeLessThan(again.expiresAt - 300 - EARLY_MS[backend]);
        expect((await canConnect(c, linkC.a4, SERVICE_PORT)).ok).toBe(true);
        expect(await kernelRules(gw, backend, linkC.b4)).toBe(1);
        const closedC = await waitClosed(
          c,
          linkC.a4,
          SERVICE_PORT,
          again.expiresAt + CLOSE_WITHIN_MS + 3000,
        );
        expect((closedC ?? Infinity) - again.expiresAt).toBeLessThanOrEqual(CLOSE_WITHIN_MS);
        expect(await rulesLeft(gw, backend, linkC.b4)).toBe(0);
      } finally {
        for (const gateway of gateways) await gateway.stop("SIGKILL");
        for (const gateway of prepared) await gateway.stop();
        if (redis) await killChild(redis);
        for (const agent of agents) await agent.stop();
        await deleteNetns(...spaces);
        rmSync(dir, { recursive: true, force: true });
      }
    },
    90_000,
  );
});
