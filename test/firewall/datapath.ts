import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FirewallAdapter, FirewallRule } from "../../src/firewall/types.js";
import {
  canConnect,
  connectNetns,
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  startAgent,
  type Link,
  type Netns,
  type NetnsAgent,
} from "../support/netns.js";

/** The protected port on the gateway namespace. */
const PORT = 2222;
/** A dropped SYN shows as a connect timeout; one second is plenty on a veth link. */
const TIMEOUT_MS = 1000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Real packets: a gateway namespace with a TCP echo service on a protected port, and two
 * client namespaces (A is granted, B never is). Shows the drop, the grant, that an
 * established session outlives its grant, and, for kernel-expiry backends, that the
 * kernel closes the port with no process involved while the session lives on.
 */
export function describeDataPath(name: string, create: (ns: Netns) => FirewallAdapter): void {
  describe(`${name} data path`, () => {
    let gw: Netns | undefined;
    let nsA: Netns | undefined;
    let nsB: Netns | undefined;
    let linkA: Link;
    let linkB: Link;
    const agents: NetnsAgent[] = [];
    let a: NetnsAgent;
    let b: NetnsAgent;
    let fw: FirewallAdapter;
    const grant = (ip: string, ms: number): FirewallRule => ({
      ip,
      proto: "tcp",
      port: PORT,
      expiresAt: Date.now() + ms,
    });

    beforeAll(async () => {
      await deleteStaleNetns();
      gw = await createNetns();
      nsA = await createNetns();
      nsB = await createNetns();
      linkA = await connectNetns(gw, nsA, 1);
      linkB = await connectNetns(gw, nsB, 2);
      const server = await startAgent(gw);
      agents.push(server);
      await server.listen(PORT);
      a = await startAgent(nsA);
      agents.push(a);
      b = await startAgent(nsB);
      agents.push(b);
      fw = create(gw);
      await fw.init([{ proto: "tcp", port: PORT }]);
    });
    afterAll(async () => {
      (fw as FirewallAdapter | undefined)?.release?.();
      for (const agent of agents) await agent.stop();
      await deleteNetns(gw, nsA, nsB);
    });

    it("drops new connections until a grant, then admits only the granted client", async () => {
      expect((await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      await fw.open(grant(linkA.b4, 60_000));
      expect((await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(true);
      expect((await canConnect(b, linkB.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      await fw.close(grant(linkA.b4, 0));
    });

    it("keeps a session opened during the grant alive after close; new ones fail", async () => {
      await fw.open(grant(linkA.b4, 60_000));
      const session = await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS);
      expect(session.ok).toBe(true);
      await fw.close(grant(linkA.b4, 0));
      expect((await a.echo(session.conn ?? -1, "still here\n", TIMEOUT_MS)).ok).toBe(true);
      expect((await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
    });

    it("does the same over IPv6", async () => {
      expect((await canConnect(a, linkA.a6, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      await fw.open(grant(linkA.b6, 60_000));
      expect((await canConnect(a, linkA.a6, PORT, undefined, TIMEOUT_MS)).ok).toBe(true);
      expect((await canConnect(b, linkB.a6, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      // The IPv4 address of the same client has no grant.
      expect((await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      await fw.close(grant(linkA.b6, 0));
      expect((await canConnect(a, linkA.a6, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
    });

    it("fails closed on flush: the granted client and everyone else are dropped after it", async () => {
      await fw.open(grant(linkA.b4, 60_000));
      await fw.open(grant(linkA.b6, 60_000));
      const session = await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS);
      expect(session.ok).toBe(true);
      await fw.flush();
      expect((await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      expect((await canConnect(a, linkA.a6, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      expect((await canConnect(b, linkB.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      // As with close: a session opened during the grant lives on.
      expect((await a.echo(session.conn ?? -1, "after flush\n", TIMEOUT_MS)).ok).toBe(true);
    });

    it("closes at expiry with no process (kernel expiry) or hands the sweeper an expired rule", async () => {
      const expiresAt = Date.now() + 2000;
      await fw.open(grant(linkA.b4, expiresAt - Date.now()));
      const session = await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS);
      expect(session.ok).toBe(true);
      // No adapter call from here on, as if webknock had been killed: only the kernel
      // (a set timeout, iptables' time match) can close the port.
      await sleep(expiresAt - Date.now() + 100);
      expect((await a.echo(session.conn ?? -1, "after expiry\n", TIMEOUT_MS)).ok).toBe(true);
      if (fw.kernelExpiry) {
        expect((await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      }
      if (!fw.kernelRemovesExpired) {
        // The rule is still there (inert or not); list() must report it as expired so the
        // sweeper (or the reconcile at the next start) deletes it.
        const listed = (await fw.list()).find((r) => r.ip === linkA.b4);
        expect(listed?.expiresAt).toBeLessThanOrEqual(Date.now());
        await fw.close(grant(linkA.b4, 0));
      }
      expect((await canConnect(a, linkA.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      expect((await a.echo(session.conn ?? -1, "still up\n", TIMEOUT_MS)).ok).toBe(true);
    });

    it("hands the port back to the host's own rules on uninstall (none here: it opens)", async () => {
      expect((await canConnect(b, linkB.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
      await fw.uninstall();
      expect((await canConnect(b, linkB.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(true);
      await fw.init([{ proto: "tcp", port: PORT }]);
      expect((await canConnect(b, linkB.a4, PORT, undefined, TIMEOUT_MS)).ok).toBe(false);
    });
  });
}
