import { describe, expect, it } from "vitest";
import { otherFirewallCheck } from "../../src/doctor/firewall-other.js";
import { contextFor, rawConfig } from "./support.js";

const noCommands = () => Promise.reject(new Error("no commands"));

describe("the firewall check for backends it cannot inspect", () => {
  it("fails the log backend: it protects nothing", async () => {
    const [finding] = await otherFirewallCheck.run(
      contextFor(rawConfig("log", ["tcp/22"]), noCommands),
    );
    expect(finding).toMatchObject({
      severity: "problem",
      summary: expect.stringContaining("dry run"),
    });
  });

  it("warns that a command backend is not checked, and leaves kernel backends alone", async () => {
    const raw = {
      ...rawConfig("command", ["tcp/22"]),
      firewall: {
        backend: "command",
        command: { open: ["/usr/local/sbin/allow"], close: ["/usr/local/sbin/deny"] },
      },
    };
    const [finding] = await otherFirewallCheck.run(contextFor(raw, noCommands));
    expect(finding).toMatchObject({
      severity: "warning",
      summary: expect.stringContaining("/usr/local/sbin/allow"),
    });
    expect(
      await otherFirewallCheck.run(contextFor(rawConfig("nftables", ["tcp/22"]), noCommands)),
    ).toEqual([]);
  });
});
