import type { FirewallConfig } from "../config/types.js";
import { CommandFirewall } from "./command-backend.js";
import type { CommandRunner } from "./runner.js";
import type { SessionSpawner } from "./session.js";
import { IpsetFirewall } from "./ipset.js";
import { IptablesFirewall } from "./iptables.js";
import { LogFirewall, type CommandLog } from "./log.js";
import { NftablesFirewall } from "./nftables.js";
import type { FirewallAdapter } from "./types.js";

/** What building an adapter may need from the outside. */
export interface FirewallDeps {
  /** Runs kernel tools; tests pass one bound to a network namespace. */
  readonly run: CommandRunner;
  /** Receives the dry-run commands of the `log` backend. */
  readonly log: CommandLog;
  readonly now: () => number;
  /**
   * Starts the long-lived nft/ipset sessions grants run in. Omit it where `run` is bound
   * to somewhere else (a test's namespace): a session must reach the same kernel.
   */
  readonly spawn?: SessionSpawner;
}

/** Builds the adapter named by `firewall.backend`. */
export function createFirewall(config: FirewallConfig, deps: FirewallDeps): FirewallAdapter {
  const { run, now, spawn } = deps;
  switch (config.backend) {
    case "log":
      return new LogFirewall(deps.log, config.chain);
    case "iptables":
      return new IptablesFirewall({ run, chain: config.chain });
    case "ipset":
      return new IpsetFirewall({ run, now, spawn, chain: config.chain });
    case "nftables":
      return new NftablesFirewall({ run, now, spawn, table: config.table });
    case "command":
      // The config schema guarantees the templates (and has validated them).
      return new CommandFirewall({
        run,
        now,
        templates: config.command,
        stateFile: config.command.stateFile,
      });
  }
}
