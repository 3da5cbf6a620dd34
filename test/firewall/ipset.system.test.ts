import { familyOf } from "../../src/net/ip.js";
import { IpsetFirewall } from "../../src/firewall/ipset.js";
import { describeFirewallContract } from "./contract.js";
import { describeDataPath } from "./datapath.js";

describeFirewallContract("ipset", {
  create: (ns, now) => new IpsetFirewall({ run: ns.run, now }),
  // Entries for this address and port, straight from `ipset list -output save`.
  count: async (ns, key) => {
    const set = `WEBKNOCK${familyOf(key.ip)}`;
    const out = await ns.exec("ipset", ["list", set, "-output", "save"]);
    return out
      .split("\n")
      .filter((l) => l.startsWith(`add ${set} ${key.ip},${key.proto}:${key.port} `)).length;
  },
  survivesRestart: true,
});

describeDataPath("ipset", (ns) => new IpsetFirewall({ run: ns.run, now: Date.now }));
