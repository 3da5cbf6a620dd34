import { familyOf } from "../../src/net/ip.js";
import { NftablesFirewall } from "../../src/firewall/nftables.js";
import { describeFirewallContract } from "./contract.js";
import { describeDataPath } from "./datapath.js";

describeFirewallContract("nftables", {
  create: (ns, now) => new NftablesFirewall({ run: ns.run, now }),
  // Elements for this address and port, straight from `nft list set`.
  count: async (ns, key) => {
    const out = await ns.exec("nft", [
      "list",
      "set",
      "inet",
      "webknock",
      `allowed${familyOf(key.ip)}`,
    ]);
    return out.split(`${key.ip} . ${key.proto} . ${key.port} `).length - 1;
  },
  survivesRestart: true,
});

describeDataPath("nftables", (ns) => new NftablesFirewall({ run: ns.run, now: Date.now }));
