import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSecret } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import {
  canConnect,
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  startAgent,
  type Netns,
  type NetnsAgent,
} from "../support/netns.js";
import { createLan, startInNetns, startWebknock, type NetnsProcess } from "./lan.js";

const SERVICE = 2222;
const SSH_FOR_MS = 6000;
const WIDE_FOR_MS = 30_000;
/** Long enough for a killed agent to be restarted (tsx start-up on a loaded machine). */
const LATE_FOR_MS = 25_000;
/** Short, so the iptables host's kernel must close it while its agent is dead. */
const BRIEF_FOR_MS = 3000;
/** Fresh secrets per run (the config refuses the public demo secret). */
const SECRETS = {
  alice: generateSecret(),
  bob: generateSecret(),
  carol: generateSecret(),
  dave: generateSecret(),
};
const TOKEN = "fleet-test-admin-token-0123456789";
/** Each protected host runs its agent on a different kernel backend. */
const HOSTS = { web1: "nftables", web2: "ipset", web3: "iptables" } as const;
type Host = keyof typeof HOSTS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const gatewayConfig = (redis: string, tokenFile: string) => `
server: { listen: [{ host: 0.0.0.0, port: 8080 }] }
store: { redis: "${redis}" }
firewall: { backend: log }
admin: { listen: { host: 127.0.0.1, port: 9090 }, tokenFile: ${tokenFile} }
doors:
  ssh: { sequence: [/k/one, /k/two], open: [tcp/${SERVICE}], openFor: ${SSH_FOR_MS}ms, users: [alice, carol], hosts: [web1, web2] }
  late: { sequence: [/d/one, /d/two], open: [tcp/${SERVICE}], openFor: ${LATE_FOR_MS}ms, users: [carol], hosts: [web1, web2] }
  wide: { sequence: [/w/one, /w/two], open: [tcp/${SERVICE}], openFor: ${WIDE_FOR_MS}ms, users: [bob], hosts: [web1, web2, web3] }
  brief: { sequence: [/b/one, /b/two], open: [tcp/${SERVICE}], openFor: ${BRIEF_FOR_MS}ms, users: [dave], hosts: [web3] }
users:
  alice: { secret: ${SECRETS.alice} }
  bob: { secret: ${SECRETS.bob} }
  carol: { secret: ${SECRETS.carol} }
  dave: { secret: ${SECRETS.dave} }
`;

/**
 * A gateway (with Redis) and three protected hosts, each with its own agent and kernel
 * backend, on one LAN with two clients. Every process is real; every packet and firewall
 * command stays inside namespaces this test creates.
 */
describe("a fleet: one gateway, three agents", () => {
  const spaces: Netns[] = [];
  const processes: NetnsProcess[] = [];
  const helpers: NetnsAgent[] = [];
  const agents = new Map<Host, NetnsProcess>();
  const hostNs = new Map<Host, Netns>();
  const hostAddr = new Map<Host, string>();
  let dir: string;
  let gwAddr: string;
  let aAddr: string;
  let a: NetnsAgent;
  let b: NetnsAgent;
  let admin: NetnsAgent;
  let gwNs: Netns;

  const startHostAgent = async (host: Host): Promise<void> => {
    const ns = hostNs.get(host) as Netns;
    const agent = startWebknock(ns, ["agent", "-c", join(dir, `${host}.yaml`)]);
    processes.push(agent);
    agents.set(host, agent);
    await agent.waitFor(/agent running/);
  };

  /** Walks a door's sequence from `client`, redeems, and returns the JSON answer. */
  const knock = async (
    client: NetnsAgent,
    door: "k" | "w" | "d" | "b",
    user: keyof typeof SECRETS,
  ) => {
    const base = `http://${gwAddr}:8080/${door}`;
    const json = { Accept: "application/json" };
    await client.http(`${base}/one`, { headers: json });
    const step = await client.http(`${base}/two`, { headers: json });
    const { challenge } = JSON.parse(step.ok ? (step.data ?? "{}") : "{}") as {
      challenge?: string;
    };
    const code = await currentTotp(SECRETS[user], Date.now());
    const reply = await client.http(`${base}/two`, {
      method: "POST",
      headers: { ...json, "Content-Type": "application/json" },
      body: JSON.stringify({ challenge, user, code }),
    });
    if (!reply.ok) throw new Error(reply.error);
    if (reply.status !== 200) {
      throw new Error(
        `knock answered ${reply.status} (step ${step.ok ? step.status : step.error}):\n${processes.map((p) => p.output().slice(-3000)).join("\n---\n")}`,
      );
    }
    return {
      status: reply.status,
      body: JSON.parse(reply.data ?? "{}") as {
        granted?: { expiresAt: string; hosts: Record<string, string> };
      },
    };
  };

  const reaches = async (client: NetnsAgent, host: Host) =>
    (await canConnect(client, hostAddr.get(host) as string, SERVICE, undefined, 500)).ok;

  /** Polls (bounded) until `client` can no longer reach `host`; resolves the time it closed. */
  const closedAt = async (client: NetnsAgent, host: Host, limitMs: number) => {
    const deadline = Date.now() + limitMs;
    for (let i = 0; i < limitMs / 50 && Date.now() < deadline; i++) {
      if (!(await reaches(client, host))) return Date.now();
      await sleep(100);
    }
    return Infinity;
  };

  const adminGet = async (path: string, method = "GET") => {
    const reply = await admin.http(`http://127.0.0.1:9090${path}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    if (!reply.ok) throw new Error(reply.error);
    return { status: reply.status, body: JSON.parse(reply.data ?? "{}") as unknown };
  };

  beforeAll(async () => {
    await deleteStaleNetns();
    dir = mkdtempSync(join(tmpdir(), "webknock-fleet-"));
    const gw = await createNetns();
    gwNs = gw;
    spaces.push(gw);
    for (const host of Object.keys(HOSTS) as Host[]) {
      const ns = await createNetns();
      spaces.push(ns);
      hostNs.set(host, ns);
    }
    const nsA = await createNetns();
    const nsB = await createNetns();
    spaces.push(nsA, nsB);
    const { lan, addr } = await createLan(spaces);
    spaces.push(lan);
    gwAddr = addr[0] as string;
    aAddr = addr[4] as string;
    (Object.keys(HOSTS) as Host[]).forEach((host, i) => hostAddr.set(host, addr[i + 1] as string));

    const redis = startInNetns(gw, "redis-server", [
      "--port",
      "6379",
      "--bind",
      `${gwAddr} 127.0.0.1`,
      "--save",
      "",
      "--appendonly",
      "no",
      // Reached over the test LAN; the namespaces are private to this test.
      "--protected-mode",
      "no",
      "--dir",
      dir,
    ]);
    processes.push(redis);
    await redis.waitFor(/Ready to accept connections/);
    const tokenFile = join(dir, "admin-token");
    writeFileSync(tokenFile, TOKEN, { mode: 0o600 });
    const gwFile = join(dir, "gateway.yaml");
    writeFileSync(gwFile, gatewayConfig(`redis://${gwAddr}:6379`, tokenFile));

    for (const [host, backend] of Object.entries(HOSTS) as [Host, string][]) {
      // What an operator does: `agent add` prints the ACL rule and the agent's config.
      const added = await gw.exec(process.execPath, [
        "--import",
        "tsx",
        "src/cli/main.ts",
        "agent",
        "add",
        host,
        "-c",
        gwFile,
      ]);
      const aclLine = added
        .split("\n")
        .find((line) => line.startsWith("redis-cli ") && line.includes(" ACL SETUSER "));
      if (aclLine === undefined) throw new Error(`agent add printed no ACL rule:\n${added}`);
      // The printed line is for a shell; run it as an operator would paste it.
      await gw.exec("bash", ["-c", aclLine]);
      const yaml = added
        .slice(added.indexOf("agent:\n"))
        .replace("backend: nftables", `backend: ${backend}\n  sweepInterval: 250ms`);
      writeFileSync(join(dir, `${host}.yaml`), yaml, { mode: 0o600 });
      const service = await startAgent(hostNs.get(host) as Netns);
      helpers.push(service);
      await service.listen(SERVICE);
    }
    const gateway = startWebknock(gw, ["serve", "-c", gwFile]);
    processes.push(gateway);
    await gateway.waitFor(/webknock is listening/);
    for (const host of Object.keys(HOSTS) as Host[]) await startHostAgent(host);
    a = await startAgent(nsA);
    b = await startAgent(nsB);
    admin = await startAgent(gw);
    helpers.push(a, b, admin);
  }, 120_000);

  afterAll(async () => {
    for (const process of processes) await process.kill();
    for (const helper of helpers) await helper.stop();
    await deleteNetns(...spaces);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("opens on exactly the named hosts for exactly the client's IP, each closing on time", async () => {
    for (const host of Object.keys(HOSTS) as Host[]) expect(await reaches(a, host)).toBe(false);
    const { status, body } = await knock(a, "k", "alice");
    expect(status).toBe(200);
    expect(body.granted?.hosts).toEqual({ web1: "open", web2: "open" });
    const expiresAt = Date.parse(body.granted?.expiresAt ?? "");
    expect(await reaches(a, "web1")).toBe(true);
    expect(await reaches(a, "web2")).toBe(true);
    expect(await reaches(a, "web3")).toBe(false);
    expect(await reaches(b, "web1")).toBe(false);
    expect(await reaches(b, "web2")).toBe(false);

    const agentsView = (await adminGet("/agents")).body as {
      agents: { host: string; lag: number; applied: number; secondsSinceHeartbeat: number }[];
    };
    expect(agentsView.agents.map((x) => [x.host, x.lag, x.applied])).toEqual([
      ["web1", 0, 1],
      ["web2", 0, 1],
      ["web3", 0, 0],
    ]);
    expect(agentsView.agents.every((x) => x.secondsSinceHeartbeat <= 2)).toBe(true);
    const metrics = await admin.http("http://127.0.0.1:9090/metrics", {
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(metrics.ok ? metrics.data : "").toMatch(
      /webknock_agent_grants_applied\{host="web2"\} 1/,
    );
    expect(metrics.ok ? metrics.data : "").toMatch(/webknock_agent_lag_events\{host="web3"\} 0/);

    for (const host of ["web1", "web2"] as const) {
      const closed = await closedAt(a, host, SSH_FOR_MS + 4000);
      // Kernel timeouts (nftables, ipset): on the dot; the agent's sweeper: within 250 ms.
      expect(closed).toBeGreaterThanOrEqual(expiresAt - 200);
      expect(closed).toBeLessThan(expiresAt + 1500);
    }

    const listed = await gwNs.exec(process.execPath, [
      "--import",
      "tsx",
      "src/cli/main.ts",
      "agents",
      "list",
      "-c",
      join(dir, "gateway.yaml"),
    ]);
    expect(listed).toMatch(/^HOST\s+HEARTBEAT\s+LAG\s+APPLIED\s+BACKEND$/m);
    expect(listed).toMatch(/^web1\s+\d+s ago\s+0\s+[01]\s+nftables$/m);
    expect(listed).toMatch(/^web3\s+\d+s ago\s+0\s+0\s+iptables$/m);
  }, 60_000);

  it("a killed agent catches up when restarted; a revoke while it was down holds", async () => {
    const wide = await knock(b, "w", "bob");
    expect(wide.body.granted?.hosts).toEqual({ web1: "open", web2: "open", web3: "open" });
    for (const host of Object.keys(HOSTS) as Host[]) expect(await reaches(b, host)).toBe(true);

    await agents.get("web2")?.kill();
    const { grants } = (await adminGet("/grants")).body as {
      grants: { door: string; ip: string; hosts?: Record<string, string> }[];
    };
    const bGrant = grants.find((g) => g.door === "wide");
    // The record says which hosts confirmed it.
    expect(bGrant?.hosts).toEqual({ web1: "open", web2: "open", web3: "open" });
    expect((await adminGet(`/grants/wide/${bGrant?.ip ?? ""}`, "DELETE")).status).toBe(200);
    // Live agents close at once; the dead agent's host keeps the rule until it is back.
    expect(await closedAt(b, "web1", 2000)).toBeLessThan(Infinity);
    expect(await closedAt(b, "web3", 2000)).toBeLessThan(Infinity);

    const late = await knock(a, "d", "carol");
    expect(late.body.granted?.hosts).toEqual({ web1: "open", web2: "pending" });
    const expiresAt = Date.parse(late.body.granted?.expiresAt ?? "");
    expect(await reaches(a, "web2")).toBe(false);

    await startHostAgent("web2");
    expect(await reaches(b, "web2")).toBe(false);
    expect(Date.now()).toBeLessThan(expiresAt);
    expect(await reaches(a, "web2")).toBe(true);
    const closed = await closedAt(a, "web2", LATE_FOR_MS + 4000);
    expect(closed).toBeGreaterThanOrEqual(expiresAt - 200);
    expect(closed).toBeLessThan(expiresAt + 1500);
  }, 90_000);

  it("a SIGKILLed iptables agent's grant closes at its expiry all the same; restarted, it deletes the rule", async () => {
    const brief = await knock(a, "b", "dave");
    expect(brief.body.granted?.hosts).toEqual({ web3: "open" });
    const expiresAt = Date.parse(brief.body.granted?.expiresAt ?? "");
    const session = await canConnect(a, hostAddr.get("web3") as string, SERVICE, undefined, 500);
    expect(session.ok).toBe(true);

    const agent = agents.get("web3");
    await agent?.kill();
    expect(agent?.child.signalCode).toBe("SIGKILL");
    // Nothing of webknock runs on web3 now: only the rule's time match (xt_time) can close it.
    const closed = await closedAt(a, "web3", BRIEF_FOR_MS + 3000);
    // Up to a second early (the match's whole-second stop), never late (polls take <= 0.6 s).
    expect(closed).toBeGreaterThanOrEqual(expiresAt - 1000);
    expect(closed).toBeLessThan(expiresAt + 1000);
    const grantLines = async () =>
      (await (hostNs.get("web3") as Netns).exec("iptables", ["-w", "-S", "WEBKNOCK-GRANTS"]))
        .split("\n")
        .filter((line) => line.startsWith(`-A WEBKNOCK-GRANTS -s ${aAddr}/32 `));
    // The kernel closed it, not a sweeper: the inert rule is still in the chain.
    expect(await grantLines()).toHaveLength(1);
    expect(agent?.child.exitCode === null && agent.child.signalCode === "SIGKILL").toBe(true);
    // A session opened during the grant lives on (ESTABLISHED comes first).
    expect((await a.echo(session.conn ?? -1, "after expiry\n", 1000)).ok).toBe(true);

    // Restarted, the agent deletes the expired rule before it reports running.
    await startHostAgent("web3");
    expect(await grantLines()).toEqual([]);
    expect(await reaches(a, "web3")).toBe(false);
  }, 30_000);
});
