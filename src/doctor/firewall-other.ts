import type { Check } from "./types.js";

/**
 * The backends the doctor cannot inspect: `log` protects nothing (a dry run), and the
 * `command` backend's rules live wherever its scripts put them.
 */
export const otherFirewallCheck: Check = {
  name: "firewall",
  run(ctx) {
    const firewall = ctx.config.firewall;
    if (firewall.backend === "log") {
      return Promise.resolve([
        {
          severity: "problem",
          summary:
            "firewall.backend is log, a dry run: webknock opens and protects nothing on this host.",
          fix: "Choose iptables, ipset or nftables (docs/firewall.md) and run `webknock firewall init`.",
        },
      ]);
    }
    if (firewall.backend === "command") {
      return Promise.resolve([
        {
          severity: "warning",
          summary: `firewall.backend is command: the doctor cannot see what ${firewall.command.open[0] ?? "the open command"} does, so the ports' protection is not checked.`,
          fix: "Check by hand that the doors' ports drop new connections without a grant, in IPv4 and IPv6.",
        },
      ]);
    }
    return Promise.resolve([]);
  },
};
