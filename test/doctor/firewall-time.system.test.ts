import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { iptablesTimeCheck } from "../../src/doctor/firewall-time.js";
import { IptablesFirewall } from "../../src/firewall/iptables.js";
import { grantRuleSpec } from "../../src/firewall/iptables-rule.js";
import type { CommandRunner } from "../../src/firewall/runner.js";
import { createNetns, deleteNetns, deleteStaleNetns, type Netns } from "../support/netns.js";
import { xtablesWithout, type CrippledXtables } from "../support/xtables.js";
import { contextFor, rawConfig } from "./support.js";

const PORT = 2222;

/**
 * The doctor's view of the iptables backend's kernel expiry, against real iptables in a
 * namespace: quiet when the time match works, and naming what is missing when not.
 */
describe("webknock doctor: the iptables time match", { timeout: 30_000 }, () => {
  let ns: Netns | undefined;
  let crippled: CrippledXtables | undefined;

  beforeAll(async () => {
    await deleteStaleNetns();
    ns = await createNetns("iptexp");
    await new IptablesFirewall({ run: ns.run }).init([{ proto: "tcp", port: PORT }]);
  });
  afterAll(async () => {
    await deleteNetns(ns);
    crippled?.remove();
  });

  const doctor = (run: CommandRunner, overrides = {}) =>
    iptablesTimeCheck.run(contextFor(rawConfig("iptables", [`tcp/${PORT}`]), run, overrides));

  it("finds nothing to say on a host where grants get their kernel expiry", async () => {
    const gw = ns as Netns;
    await new IptablesFirewall({ run: gw.run }).open({
      ip: "10.9.9.9",
      proto: "tcp",
      port: PORT,
      expiresAt: Date.now() + 60_000,
    });
    expect(await doctor(gw.run)).toEqual([]);
    // Other backends are not its business.
    const ctx = contextFor(rawConfig("nftables", [`tcp/${PORT}`]), gw.run);
    expect(await iptablesTimeCheck.run(ctx)).toEqual([]);
  });

  it("names grant rules without a time match, until init gives them one", async () => {
    const gw = ns as Netns;
    const old = {
      ip: "10.9.9.8",
      proto: "tcp" as const,
      port: PORT,
      expiresAt: Date.now() + 60_000,
    };
    await gw.exec("iptables", ["-w", "-I", "WEBKNOCK-GRANTS", "1", ...grantRuleSpec(old, null)]);
    const [finding, ...more] = await doctor(gw.run);
    expect(more).toEqual([]);
    expect(finding?.severity).toBe("warning");
    expect(finding?.summary).toContain("IPv4: 1 grant rule has no kernel expiry");
    expect(finding?.fix).toContain("webknock firewall init -c /etc/webknock/webknock.yaml");
    await new IptablesFirewall({ run: gw.run }).init([{ proto: "tcp", port: PORT }]);
    expect(await doctor(gw.run)).toEqual([]);
  });

  it("names a kernel that has not loaded xt_time, unless a timed grant proves it works", async () => {
    const gw = ns as Netns;
    // The kernel's list as it reads with every match but time (this kernel has it built in).
    const withoutTime = () => Buffer.from("tcp\nudp\ncomment\nconntrack\n");
    const findings = await doctor(gw.run, { readFile: withoutTime });
    // IPv4 holds a timed grant (the test above); IPv6 holds none, so only it is named.
    expect(findings).toHaveLength(1);
    expect(findings[0]?.summary).toContain("IPv6: the kernel has not loaded the time match");
    expect(findings[0]?.fix).toContain("modprobe xt_time");
  });

  it("names iptables without its time extension as a problem", async () => {
    const gw = ns as Netns;
    crippled = xtablesWithout(gw, "libxt_time.so");
    const { run } = crippled;
    const findings = await doctor(run);
    expect(findings.map((f) => f.severity)).toEqual(["problem", "problem"]);
    expect(findings[0]?.summary).toContain("iptables cannot load its time match");
    expect(findings[0]?.summary).toContain("Couldn't load match `time'");
    expect(findings[1]?.summary).toContain("ip6tables cannot load its time match");
    expect(findings[0]?.fix).toContain("libxt_time.so");
  });
});
