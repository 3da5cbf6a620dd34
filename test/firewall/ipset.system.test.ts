import { familyOf } from "../../src/net/ip.js";
import { IpsetFirewall } from "../../src/firewall/ipset.js";
import type { RuleKey } from "../../src/firewall/types.js";
import type { Netns } from "../support/netns.js";
import { describeFirewallContract } from "./contract.js";
import { describeDataPath } from "./datapath.js";

/** Entries for this address and port, straight from `ipset list -output save`. */
async function count(ns: Netns, key: RuleKey): Promise<number> {
  const set = `WEBKNOCK${familyOf(key.ip)}`;
  const out = await ns.exec("ipset", ["list", set, "-output", "save"]);
  return out
    .split("\n")
    .filter((l) => l.startsWith(`add ${set} ${key.ip},${key.proto}:${key.port} `)).length;
}

// Each command a process of its own (what `firewall` CLI commands and batches use)...
describeFirewallContract("ipset", {
  create: (ns, now) => new IpsetFirewall({ run: ns.run, now }),
  count,
  survivesRestart: true,
});
// ...and adds and deletes in one long-lived `ipset -`, as the gateway and agents run them.
describeFirewallContract("ipset in a session", {
  create: (ns, now) => new IpsetFirewall({ run: ns.run, spawn: ns.spawn, now }),
  count,
  survivesRestart: true,
});

describeDataPath(
  "ipset",
  (ns) => new IpsetFirewall({ run: ns.run, spawn: ns.spawn, now: Date.now }),
);
