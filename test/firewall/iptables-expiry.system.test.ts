import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FirewallError } from "../../src/errors.js";
import { IptablesFirewall } from "../../src/firewall/iptables.js";
import { datestopOf, grantRuleSpec } from "../../src/firewall/iptables-rule.js";
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
import { xtablesWithout, type CrippledXtables } from "../support/xtables.js";

/** The protected port on the gateway namespace. */
const PORT = 2222;
const PORTS = [{ proto: "tcp", port: PORT }] as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The iptables backend's kernel expiry (xt_time), with real packets: a grant stops
 * admitting new connections at its expiry with no webknock process running, sessions
 * opened before live on, and init refuses clearly where the time match is missing.
 */
describe("iptables kernel expiry (time match)", () => {
  let gw: Netns | undefined;
  let client: Netns | undefined;
  let link: Link;
  let a: NetnsAgent | undefined;
  let server: NetnsAgent | undefined;
  let crippled: CrippledXtables | undefined;

  beforeAll(async () => {
    await deleteStaleNetns();
    gw = await createNetns("iptexp");
    client = await createNetns("iptexp");
    link = await connectNetns(gw, client, 7, "ipx");
    server = await startAgent(gw);
    await server.listen(PORT);
    a = await startAgent(client);
  });
  afterAll(async () => {
    await a?.stop();
    await server?.stop();
    await deleteNetns(gw, client);
    crippled?.remove();
  });

  const grants = async (ns: Netns) =>
    (await ns.exec("iptables", ["-w", "-S", "WEBKNOCK-GRANTS"]))
      .split("\n")
      .filter((line) => line.startsWith("-A "));

  it("stops admitting at the expiry's whole second with no process running; sessions live on", async () => {
    const ns = gw as Netns;
    const agent = a as NetnsAgent;
    const fw = new IptablesFirewall({ run: ns.run });
    await fw.uninstall();
    await fw.init(PORTS);
    // Half a second past a whole second: the kernel stops at that whole second, 0.5 s early.
    const expiresAt = Math.ceil(Date.now() / 1000) * 1000 + 2500;
    const stopsAt = Math.floor(expiresAt / 1000) * 1000;
    await fw.open({ ip: link.b4, proto: "tcp", port: PORT, expiresAt });
    const session = await canConnect(agent, link.a4, PORT, undefined, 1000);
    expect(session.ok).toBe(true);
    // From here on nothing calls the adapter: webknock might as well be dead (SIGKILL).
    const attempts: { at: number; ok: boolean }[] = [];
    for (let i = 0; i < 60 && Date.now() < expiresAt + 1500; i++) {
      const at = Date.now();
      attempts.push({ at, ok: (await canConnect(agent, link.a4, PORT, undefined, 400)).ok });
      await sleep(100);
    }
    const admitted = attempts.filter((x) => x.ok);
    const refused = attempts.filter((x) => !x.ok);
    expect(admitted.length).toBeGreaterThan(3);
    expect(refused.length).toBeGreaterThan(0);
    // Never admitted after the expiry; refused only from the documented whole second on.
    for (const { at } of admitted) expect(at).toBeLessThan(expiresAt);
    for (const { at } of refused) expect(at).toBeGreaterThanOrEqual(stopsAt - 50);
    expect(attempts.at(-1)?.ok).toBe(false);
    // The session opened during the grant: ESTABLISHED is accepted before any grant rule.
    expect((await agent.echo(session.conn ?? -1, "after expiry\n", 1000)).ok).toBe(true);
    // The kernel kept the (inert) rule; list() reports it due, so a sweeper deletes it.
    const lines = await grants(ns);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`-m time --datestop ${datestopOf(expiresAt)} `);
    const listed = await fw.list();
    expect(listed).toEqual([{ ip: link.b4, proto: "tcp", port: PORT, expiresAt: stopsAt }]);
    await fw.close(listed[0] ?? { ip: link.b4, proto: "tcp", port: PORT });
    expect(await grants(ns)).toEqual([]);
  });

  it("refreshes by replacing the rule and its time match, never two rules", async () => {
    const ns = gw as Netns;
    const fw = new IptablesFirewall({ run: ns.run });
    await fw.init(PORTS);
    const first = Date.now() + 60_000;
    const later = Date.now() + 120_000;
    await fw.open({ ip: link.b4, proto: "tcp", port: PORT, expiresAt: first });
    await fw.open({ ip: link.b4, proto: "tcp", port: PORT, expiresAt: later });
    const lines = await grants(ns);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`--datestop ${datestopOf(later)} `);
    // The ESTABLISHED accept still comes first for the port, ahead of the grants.
    const chain = await ns.exec("iptables", ["-w", "-S", "WEBKNOCK"]);
    expect(chain.indexOf("RELATED,ESTABLISHED")).toBeLessThan(chain.indexOf("WEBKNOCK-GRANTS"));
    await fw.flush();
  });

  it("init gives a grant written before the time match one, keeping its expiry", async () => {
    const ns = gw as Netns;
    const fw = new IptablesFirewall({ run: ns.run });
    await fw.init(PORTS);
    const old = {
      ip: "fd00:200:7::9",
      proto: "udp" as const,
      port: 53,
      expiresAt: 1_900_000_000_000,
    };
    await ns.exec("ip6tables", ["-w", "-I", "WEBKNOCK-GRANTS", "1", ...grantRuleSpec(old, null)]);
    expect(await fw.list()).toEqual([old]);
    await fw.init(PORTS);
    const lines = (await ns.exec("ip6tables", ["-w", "-S", "WEBKNOCK-GRANTS"])).split("\n");
    expect(lines.filter((line) => line.startsWith("-A "))).toEqual([
      `-A WEBKNOCK-GRANTS -s ${old.ip}/128 -p udp -m udp --dport 53 -m conntrack --ctstate NEW -m time --datestop 2030-03-17T17:46:39 -m comment --comment "webknock exp=1900000000" -j ACCEPT`,
    ]);
    expect(await fw.list()).toEqual([old]);
    await fw.flush();
  });

  it("init says what is missing when iptables cannot load the time match, after closing the ports", async () => {
    const ns = gw as Netns;
    await new IptablesFirewall({ run: ns.run }).uninstall();
    // Real iptables, with every extension but libxt_time.so.
    crippled = xtablesWithout(ns, "libxt_time.so");
    const { run } = crippled;
    const fw = new IptablesFirewall({ run });
    const failure = await fw.init(PORTS).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(FirewallError);
    const message = (failure as Error).message;
    expect(message).toContain("time match (-m time, kernel module xt_time)");
    expect(message).toContain("Couldn't load match `time'");
    expect(message).toContain("modprobe xt_time");
    expect(message).toContain("nftables or ipset");
    // Fail closed: the base ruleset went in first, so the port drops new connections.
    expect(await ns.exec("iptables", ["-w", "-S", "WEBKNOCK"])).toContain(
      `--dport ${PORT} -m conntrack --ctstate NEW -j DROP`,
    );
    expect((await canConnect(a as NetnsAgent, link.a4, PORT, undefined, 500)).ok).toBe(false);
    await new IptablesFirewall({ run: ns.run }).uninstall();
  });
});
