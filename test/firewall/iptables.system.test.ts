import { familyOf } from "../../src/net/ip.js";
import { IptablesFirewall } from "../../src/firewall/iptables.js";
import { xtablesBinary } from "../../src/firewall/xtables.js";
import { describeFirewallContract } from "./contract.js";
import { describeDataPath } from "./datapath.js";

describeFirewallContract("iptables", {
  create: (ns) => new IptablesFirewall({ run: ns.run }),
  // Grant rules for this address and port, straight from `iptables -S`.
  count: async (ns, key) =>
    (await ns.exec(xtablesBinary(familyOf(key.ip)), ["-w", "-S", "WEBKNOCK-GRANTS"]))
      .split("\n")
      .filter((line) => line.includes(` -s ${key.ip}/`) && line.includes(`--dport ${key.port} `))
      .length,
  survivesRestart: true,
});

describeDataPath("iptables", (ns) => new IptablesFirewall({ run: ns.run }));
