import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import {
  canConnect,
  connectNetns,
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  killChild,
  spawnInNetns,
  startAgent,
  type Link,
  type Netns,
  type NetnsAgent,
} from "../support/netns.js";
import type { ChildProcess } from "node:child_process";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SERVICE_PORT = 2222;
const HTTP_PORT = 8080;
const OPEN_FOR_MS = 3000;
const SECRETS = {
  alice: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT",
  bob: "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** knockd-style templates that drive the gateway namespace's own iptables INPUT chain. */
const commandTemplates = (stateFile: string) => {
  const match = ["-s", "%IP%", "-p", "%PROTO%", "--dport", "%PORT%", "-j", "ACCEPT"];
  return JSON.stringify({
    open: ["iptables", "-w", "-I", "INPUT", "1", ...match],
    close: ["iptables", "-w", "-D", "INPUT", ...match],
    stateFile,
  });
};

const config = (backend: string, dir: string) => `
server: { listen: [{ host: 0.0.0.0, port: ${HTTP_PORT} }] }
firewall:
  backend: ${backend}
  sweepInterval: 250ms
${backend === "command" ? `  command: ${commandTemplates(join(dir, "command-grants.json"))}` : ""}
doors:
  ssh: { sequence: [/k/one, /k/two], open: [tcp/${SERVICE_PORT}], openFor: ${OPEN_FOR_MS}ms, users: [alice, bob] }
users:
  alice: { secret: ${SECRETS.alice} }
  bob: { secret: ${SECRETS.bob} }
`;

/**
 * The whole product: `webknock serve` running inside a gateway namespace in front of a
 * TCP service, knocked by client A over HTTP from its own namespace, while client B in a
 * third namespace stays locked out. Then the gateway dies with SIGKILL right after a grant.
 */
describe.each(["ipset", "nftables", "iptables", "command"])("end to end with %s", (backend) => {
  let gw: Netns | undefined;
  let nsA: Netns | undefined;
  let nsB: Netns | undefined;
  let linkA: Link;
  let linkB: Link;
  let a: NetnsAgent;
  let b: NetnsAgent;
  const agents: NetnsAgent[] = [];
  const gateways: ChildProcess[] = [];
  let dir: string;
  let file: string;

  const startGateway = async (): Promise<ChildProcess> => {
    const child = spawnInNetns(
      gw as Netns,
      process.execPath,
      ["--import", "tsx", MAIN, "serve", "-c", file],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    gateways.push(child);
    let out = "";
    child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const deadline = Date.now() + 15_000;
    while (!out.includes("webknock is listening")) {
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`webknock serve did not start:\n${out}`);
      }
      await sleep(50);
    }
    return child;
  };

  /** Walks the sequence and answers the challenge from client A; resolves the status. */
  const knock = async (user: keyof typeof SECRETS): Promise<number | undefined> => {
    const base = `http://${linkA.a4}:${HTTP_PORT}`;
    const json = { Accept: "application/json" };
    await a.http(`${base}/k/one`, { headers: json });
    const step = await a.http(`${base}/k/two`, { headers: json });
    if (!step.ok) throw new Error(step.error);
    const { challenge } = JSON.parse(step.data ?? "{}") as { challenge?: string };
    const code = await currentTotp(SECRETS[user], Date.now());
    const granted = await a.http(`${base}/k/two`, {
      method: "POST",
      headers: { ...json, "Content-Type": "application/json" },
      body: JSON.stringify({ challenge, user, code }),
    });
    return granted.ok ? granted.status : undefined;
  };

  const connectA = () => canConnect(a, linkA.a4, SERVICE_PORT);

  /** Polls (bounded) until a new connection from A fails; returns the time it took. */
  /**
   * Milliseconds until A can no longer connect, or Infinity when it still can after
   * `limitMs`: a port that never closes must fail the caller's bound, so the loop ends on
   * time alone (each probe takes at most 500 ms plus a 200 ms pause).
   */
  const waitClosed = async (limitMs: number): Promise<number> => {
    const started = Date.now();
    while (Date.now() - started < limitMs) {
      if (!(await canConnect(a, linkA.a4, SERVICE_PORT, undefined, 500)).ok)
        return Date.now() - started;
      await sleep(200);
    }
    return Infinity;
  };

  beforeAll(async () => {
    await deleteStaleNetns();
    gw = await createNetns();
    nsA = await createNetns();
    nsB = await createNetns();
    linkA = await connectNetns(gw, nsA, 1);
    linkB = await connectNetns(gw, nsB, 2);
    dir = mkdtempSync(join(tmpdir(), "webknock-e2e-"));
    file = join(dir, "webknock.yaml");
    writeFileSync(file, config(backend, dir));
    const service = await startAgent(gw);
    agents.push(service);
    await service.listen(SERVICE_PORT);
    a = await startAgent(nsA);
    b = await startAgent(nsB);
    agents.push(a, b);
    if (backend === "command") {
      // The admin's own base rules, as with knockd: new connections to the port are dropped.
      for (const rule of [
        ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        ["-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"],
      ]) {
        const added = await gw.run("iptables", [
          "-w",
          "-A",
          "INPUT",
          "-p",
          "tcp",
          "--dport",
          String(SERVICE_PORT),
          ...rule,
        ]);
        if (added.exitCode !== 0) throw new Error(`iptables failed: ${added.stderr}`);
      }
      return;
    }
    const init = await gw.run(process.execPath, [
      "--import",
      "tsx",
      MAIN,
      "firewall",
      "init",
      "-c",
      file,
    ]);
    if (init.exitCode !== 0) throw new Error(`firewall init failed: ${init.stderr}`);
  }, 60_000);

  afterAll(async () => {
    for (const child of gateways) await killChild(child);
    for (const agent of agents) await agent.stop();
    await deleteNetns(gw, nsA, nsB);
    rmSync(dir, { recursive: true, force: true });
  });

  it("opens for the knocking client only, and only until the grant expires", async () => {
    await startGateway();
    expect((await connectA()).ok).toBe(false);
    expect(await knock("alice")).toBe(200);
    const session = await connectA();
    expect(session.ok).toBe(true);
    expect((await canConnect(b, linkB.a4, SERVICE_PORT)).ok).toBe(false);
    // The sweeper (or the kernel) closes it; the session opened in the window lives on.
    expect(await waitClosed(OPEN_FOR_MS + 4000)).toBeLessThan(OPEN_FOR_MS + 4000);
    expect((await a.echo(session.conn ?? -1, "still here\n")).ok).toBe(true);
  }, 60_000);

  it("closes on time after the gateway is killed (kernel) or at its next start (sweeper)", async () => {
    const [running] = gateways;
    expect(await knock("bob")).toBe(200);
    const grantedAt = Date.now();
    if (running) await killChild(running);
    expect((await connectA()).ok).toBe(true);
    await sleep(Math.max(0, grantedAt + OPEN_FOR_MS + 500 - Date.now()));
    if (backend === "iptables" || backend === "command") {
      // Nothing is left to close it: the rule outlives its expiry until a gateway starts.
      expect((await connectA()).ok).toBe(true);
      await startGateway();
    }
    expect((await connectA()).ok).toBe(false);
  }, 60_000);
});
