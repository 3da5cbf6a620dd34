import { describe, expect, it } from "vitest";
import { LogFirewall } from "../../src/firewall/log.js";
import { describeFirewallContract } from "./contract.js";

describeFirewallContract("log", {
  create: () => new LogFirewall(() => undefined),
  survivesRestart: false,
});

describe("log adapter output", () => {
  it("logs the iptables commands the iptables backend would run, as argv", async () => {
    const lines: string[][] = [];
    const adapter = new LogFirewall((argv) => lines.push([...argv]));
    await adapter.open({ ip: "fd00::1", proto: "tcp", port: 22, expiresAt: 2_000_000_000_000 });
    expect(lines).toEqual([
      [
        "ip6tables",
        "-w",
        "-I",
        "WEBKNOCK-GRANTS",
        "1",
        "-s",
        "fd00::1",
        "-p",
        "tcp",
        "--dport",
        "22",
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-m",
        "time",
        "--datestop",
        "2033-05-18T03:33:19",
        "-m",
        "comment",
        "--comment",
        "webknock exp=2000000000",
        "-j",
        "ACCEPT",
      ],
    ]);
  });
});
