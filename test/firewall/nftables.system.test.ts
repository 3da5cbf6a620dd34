import { familyOf } from "../../src/net/ip.js";
import { NftablesFirewall } from "../../src/firewall/nftables.js";
import type { RuleKey } from "../../src/firewall/types.js";
import type { Netns } from "../support/netns.js";
import { describeFirewallContract } from "./contract.js";
import { describeDataPath } from "./datapath.js";

/** Elements for this address and port, straight from `nft list set`. */
async function count(ns: Netns, key: RuleKey): Promise<number> {
  const out = await ns.exec("nft", [
    "list",
    "set",
    "inet",
    "webknock",
    `allowed${familyOf(key.ip)}`,
  ]);
  return out.split(`${key.ip} . ${key.proto} . ${key.port} `).length - 1;
}

// Each command a process of its own (what `firewall` CLI commands and batches use)...
describeFirewallContract("nftables", {
  create: (ns, now) => new NftablesFirewall({ run: ns.run, now }),
  count,
  survivesRestart: true,
});
// ...and opens and closes in one long-lived `nft -i`, as the gateway and agents run them.
describeFirewallContract("nftables in a session", {
  create: (ns, now) => new NftablesFirewall({ run: ns.run, spawn: ns.spawn, now }),
  count,
  survivesRestart: true,
});

describeDataPath(
  "nftables",
  (ns) => new NftablesFirewall({ run: ns.run, spawn: ns.spawn, now: Date.now }),
);
