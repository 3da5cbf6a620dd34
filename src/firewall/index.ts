import type { FirewallConfig } from "../config/types.js";
import { WebknockError } from "../errors.js";
import type { CommandRunner } from "./command.js";
import { LogFirewall, type CommandLog } from "./log.js";
import type { FirewallAdapter } from "./types.js";

/** What building an adapter may need from the outside. */
export interface FirewallDeps {
  /** Runs kernel tools; tests pass one bound to a network namespace. */
  readonly run: CommandRunner;
  /** Receives the dry-run commands of the `log` backend. */
  readonly log: CommandLog;
  readonly now: () => number;
}

/** Builds the adapter named by `firewall.backend`. */
export function createFirewall(config: FirewallConfig, deps: FirewallDeps): FirewallAdapter {
  switch (config.backend) {
    case "log":
      return new LogFirewall(deps.log, config.chain);
    case "iptables":
    case "ipset":
    case "nftables":
    case "command":
      throw new WebknockError(
        "ERR_BACKEND",
        `firewall.backend ${config.backend} is not built yet.`,
      );
  }
}
