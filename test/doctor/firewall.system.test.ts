import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { dockerCheck, untrackedCheck } from "../../src/doctor/bypass.js";
import { nftFirewallCheck } from "../../src/doctor/firewall-nft.js";
import { iptablesTimeCheck } from "../../src/doctor/firewall-time.js";
import { xtablesFirewallCheck } from "../../src/doctor/firewall-xtables.js";
import { runChecks, type CheckResult } from "../../src/doctor/index.js";
import type { Check } from "../../src/doctor/types.js";
import { createFirewall } from "../../src/firewall/index.js";
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
import { contextFor, rawConfig } from "./support.js";

const PORT = 2222;
const FIREWALL_CHECKS: readonly Check[] = [
  xtablesFirewallCheck,
  iptablesTimeCheck,
  nftFirewallCheck,
  untrackedCheck,
  dockerCheck,
];

const problems = (results: readonly CheckResult[]) =>
  results.flatMap((r) => r.findings.filter((f) => f.severity === "problem"));

/**
 * Each fault is built in a fresh namespace `gw` holding webknock's base ruleset, with a
 * client namespace beside it; where the doctor claims a hole or its absence, the client's
 * real connection attempt says whether the kernel agrees.
 */
describe("webknock doctor: the firewall checks against a real kernel", { timeout: 60_000 }, () => {
  let gw: Netns | undefined;
  let client: Netns | undefined;
  let link: Link;
  let server: NetnsAgent | undefined;
  let agent: NetnsAgent | undefined;

  beforeEach(async () => {
    await deleteStaleNetns();
    gw = await createNetns();
    client = await createNetns();
    link = await connectNetns(gw, client, 31);
    server = await startAgent(gw);
    await server.listen(PORT);
    agent = await startAgent(client);
  });
  afterEach(async () => {
    await agent?.stop();
    await server?.stop();
    await deleteNetns(gw, client);
  });

  async function setUp(backend: "iptables" | "ipset" | "nftables") {
    if (gw === undefined) throw new Error("no namespace");
    const raw = rawConfig(backend, [`tcp/${PORT}`]);
    const ctx = contextFor(raw, gw.run);
    await createFirewall(ctx.config.firewall, {
      run: gw.run,
      log: () => undefined,
      now: Date.now,
    }).init([{ proto: "tcp", port: PORT }]);
    return { ns: gw, doctor: () => runChecks(FIREWALL_CHECKS, ctx) };
  }

  const reachable = async (host: string) =>
    (await canConnect(agent as NetnsAgent, host, PORT, undefined, 700)).ok;

  it.each(["iptables", "ipset", "nftables"] as const)(
    "a clean %s setup has no problem, and the port is really closed",
    async (backend) => {
      const { doctor } = await setUp(backend);
      expect(problems(await doctor())).toEqual([]);
      expect(await reachable(link.a4)).toBe(false);
      expect(await reachable(link.a6)).toBe(false);
    },
  );

  it("names a stray ACCEPT above webknock's jump, and the hole is real", async () => {
    const { ns, doctor } = await setUp("iptables");
    await ns.exec("iptables", [
      "-w",
      "-I",
      "INPUT",
      "1",
      "-p",
      "tcp",
      "--dport",
      String(PORT),
      "-j",
      "ACCEPT",
    ]);
    const found = problems(await doctor());
    expect(found).toHaveLength(1);
    expect(found[0]?.summary).toContain(`--dport ${PORT} -j ACCEPT`);
    expect(found[0]?.summary).toContain("before the jump to WEBKNOCK");
    expect(found[0]?.fix).toContain(`iptables -D INPUT -p tcp -m tcp --dport ${PORT} -j ACCEPT`);
    expect(await reachable(link.a4)).toBe(true);
  });

  it("follows jumps: an ACCEPT in a chain INPUT reaches first (ufw-style), multiport", async () => {
    const { ns, doctor } = await setUp("iptables");
    await ns.exec("ip6tables", ["-w", "-N", "host-before"]);
    await ns.exec("ip6tables", ["-w", "-I", "INPUT", "1", "-j", "host-before"]);
    await ns.exec("ip6tables", [
      "-w",
      "-A",
      "host-before",
      "-m",
      "conntrack",
      "--ctstate",
      "ESTABLISHED",
      "-j",
      "ACCEPT",
    ]);
    await ns.exec("ip6tables", [
      "-w",
      "-A",
      "host-before",
      "-p",
      "tcp",
      "-m",
      "multiport",
      "--dports",
      `1000:${PORT + 1}`,
      "-j",
      "ACCEPT",
    ]);
    const found = problems(await doctor());
    expect(found.map((f) => f.summary).join("\n")).toMatch(/^IPv6: .*reached through host-before/m);
    expect(found.some((f) => f.summary.startsWith("IPv6 is not covered"))).toBe(true);
    expect(await reachable(link.a6)).toBe(true);
    expect(await reachable(link.a4)).toBe(false);
  });

  it("names a missing IPv6 rule", async () => {
    const { ns, doctor } = await setUp("ipset");
    await ns.exec("ip6tables", ["-w", "-D", "INPUT", "-j", "WEBKNOCK"]);
    const summaries = problems(await doctor()).map((f) => f.summary);
    expect(summaries).toEqual([
      `IPv6: INPUT has no jump to WEBKNOCK, so nothing protects tcp/${PORT} in IPv6.`,
      expect.stringMatching(/^IPv6 is not covered where IPv4 is/),
    ]);
    expect(await reachable(link.a6)).toBe(true);
  });

  it("names a Docker-like DNAT chain and offers DOCKER-USER; a DOCKER-USER drop satisfies it", async () => {
    const { ns, doctor } = await setUp("iptables");
    const nat = (...args: string[]) => ns.exec("iptables", ["-w", "-t", "nat", ...args]);
    await nat("-N", "DOCKER");
    await nat("-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER");
    await nat(
      "-A",
      "DOCKER",
      "!",
      "-i",
      "docker0",
      "-p",
      "tcp",
      "--dport",
      String(PORT),
      "-j",
      "DNAT",
      "--to-destination",
      "172.17.0.2:22",
    );
    const found = problems(await doctor());
    expect(found).toHaveLength(1);
    expect(found[0]?.summary).toMatch(/\(chain DOCKER\) forwards tcp\/2222 before INPUT/);
    expect(found[0]?.fix).toContain("DOCKER-USER");
    expect(found[0]?.fix).toContain("hook forward");
    await ns.exec("iptables", ["-w", "-N", "DOCKER-USER"]);
    await ns.exec("iptables", [
      "-w",
      "-A",
      "DOCKER-USER",
      "-p",
      "tcp",
      "-m",
      "conntrack",
      "--ctorigdstport",
      String(PORT),
      "--ctstate",
      "NEW",
      "-j",
      "DROP",
    ]);
    expect(problems(await doctor())).toEqual([]);
  });

  it("names a native nftables DNAT (Docker's nftables backend) ahead of the input hook", async () => {
    const { ns, doctor } = await setUp("nftables");
    await ns.exec(
      "nft",
      ["-f", "-"],
      `add table ip docker
add chain ip docker prerouting { type nat hook prerouting priority dstnat; policy accept; }
add rule ip docker prerouting fib daddr type local tcp dport ${PORT} dnat to 172.17.0.2:22
`,
    );
    const found = problems(await doctor());
    expect(found).toHaveLength(1);
    expect(found[0]?.summary).toMatch(
      /tcp dport 2222 dnat to 172\.17\.0\.2:22` forwards tcp\/2222 before the input hook/,
    );
    expect(found[0]?.fix).toContain("hook forward");
    expect(found[0]?.fix).toContain("DOCKER-USER");
  });

  it("nftables: an accept in a higher-priority chain is no bypass (the kernel agrees)", async () => {
    const { ns, doctor } = await setUp("nftables");
    await ns.exec(
      "nft",
      ["-f", "-"],
      `add table inet host
add chain inet host input { type filter hook input priority -50; policy accept; }
add rule inet host input tcp dport ${PORT} accept
`,
    );
    const results = await doctor();
    expect(problems(results)).toEqual([]);
    const info = results.flatMap((r) => r.findings).find((f) => f.severity === "info");
    expect(info?.summary).toMatch(/inet host input: tcp dport 2222 accept.*not a bypass/);
    expect(await reachable(link.a4)).toBe(false);
  });

  it.each(["nftables", "iptables"] as const)(
    "%s: a higher-priority notrack is a bypass, named (and real)",
    async (backend) => {
      const { ns, doctor } = await setUp(backend);
      await ns.exec(
        "nft",
        ["-f", "-"],
        `add table inet host
add chain inet host pre { type filter hook prerouting priority raw; policy accept; }
add rule inet host pre tcp dport ${PORT} notrack
`,
      );
      const found = problems(await doctor());
      expect(found).toHaveLength(1);
      expect(found[0]?.summary).toMatch(
        /inet host pre: tcp dport 2222 notrack.*skip webknock's drop/,
      );
      expect(found[0]?.fix).toMatch(/nft delete rule inet host pre handle \d+/);
      expect(await reachable(link.a4)).toBe(true);
    },
  );

  it("nftables: a foreign accept inside webknock's own chain is named", async () => {
    const { ns, doctor } = await setUp("nftables");
    await ns.exec("nft", [
      "insert",
      "rule",
      "inet",
      "webknock",
      "input",
      "tcp",
      "dport",
      String(PORT),
      "accept",
    ]);
    const found = problems(await doctor());
    expect(found).toHaveLength(1);
    expect(found[0]?.summary).toContain("is not webknock's and accepts before its drop");
    expect(await reachable(link.a4)).toBe(true);
  });
});
