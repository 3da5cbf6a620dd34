import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  canConnect,
  connectNetns,
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  killChild,
  startAgent,
  type Link,
  type Netns,
  type NetnsAgent,
} from "../support/netns.js";
import type { ChildProcess } from "node:child_process";
import {
  addAdminDrop,
  cliArgs,
  iptablesCommandTemplates,
  knockFrom,
  startNetnsGateway,
  TEST_SECRETS,
  waitClosed,
} from "../support/netns-gateway.js";

const SERVICE_PORT = 2222;
const HTTP_PORT = 8080;
const OPEN_FOR_MS = 3000;
const SECRETS = TEST_SECRETS;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const config = (backend: string, dir: string) => `
server: { listen: [{ host: 0.0.0.0, port: ${HTTP_PORT} }] }
firewall:
  backend: ${backend}
  sweepInterval: 250ms
${backend === "command" ? `  command: ${iptablesCommandTemplates(join(dir, "command-grants.json"))}` : ""}
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
    const { child } = await startNetnsGateway(gw as Netns, file);
    gateways.push(child);
    return child;
  };

  /** Walks the sequence and answers the challenge from client A; resolves the status. */
  const knock = async (user: keyof typeof SECRETS): Promise<number | undefined> =>
    (
      await knockFrom(
        a,
        `http://${linkA.a4}:${HTTP_PORT}`,
        ["/k/one", "/k/two"],
        user,
        SECRETS[user],
      )
    ).status;

  const connectA = () => canConnect(a, linkA.a4, SERVICE_PORT);

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
      await addAdminDrop(gw, SERVICE_PORT);
      return;
    }
    const init = await gw.run(process.execPath, cliArgs("firewall", "init", "-c", file));
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
    const grantedAt = Date.now();
    const session = await connectA();
    expect(session.ok).toBe(true);
    expect((await canConnect(b, linkB.a4, SERVICE_PORT)).ok).toBe(false);
    // The sweeper (or the kernel) closes it; the session opened in the window lives on.
    const closed = await waitClosed(a, linkA.a4, SERVICE_PORT, grantedAt + OPEN_FOR_MS + 4000);
    expect(closed, "the port never closed").toBeDefined();
    expect((await a.echo(session.conn ?? -1, "still here\n")).ok).toBe(true);
  }, 60_000);

  it("closes on time after the gateway is killed (kernel) or at its next start (command)", async () => {
    const [running] = gateways;
    expect(await knock("bob")).toBe(200);
    const grantedAt = Date.now();
    if (running) await killChild(running);
    expect((await connectA()).ok).toBe(true);
    await sleep(Math.max(0, grantedAt + OPEN_FOR_MS + 500 - Date.now()));
    if (backend === "command") {
      // The kernel knows nothing of its expiry: the rule outlives it until a gateway starts.
      // (nftables and ipset time their entries out; iptables' rule has a time match.)
      expect((await connectA()).ok).toBe(true);
      await startGateway();
    }
    expect((await connectA()).ok).toBe(false);
  }, 60_000);
});
