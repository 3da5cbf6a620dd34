import type { Command } from "commander";
import { formatDuration } from "../../config/duration.js";
import type { GatewayConfig, PortSpec } from "../../config/types.js";
import { createExecaRunner } from "../../firewall/command.js";
import { createFirewall } from "../../firewall/index.js";
import type { FirewallAdapter } from "../../firewall/types.js";
import { loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/** Every port any door opens, once each: what `init` protects. */
export function protectedPorts(config: GatewayConfig): PortSpec[] {
  const seen = new Map<string, PortSpec>();
  for (const door of config.doors) {
    for (const spec of door.open) seen.set(`${spec.proto}/${spec.port}`, spec);
  }
  return [...seen.values()];
}

function adapterFor(config: GatewayConfig, deps: CliDeps): FirewallAdapter {
  return createFirewall(config.firewall, {
    run: createExecaRunner(),
    log: (argv) => deps.stdout.write(`would run: ${argv.join(" ")}\n`),
    now: deps.now,
  });
}

/**
 * `webknock firewall init|status|flush -c FILE`: builds webknock's base ruleset for every
 * door's ports, lists live grants with their remaining time, or removes everything
 * webknock made (and nothing else). Needs CAP_NET_ADMIN except with the log backend.
 */
export function registerFirewallCommands(program: Command, deps: CliDeps): void {
  const firewall = program
    .command("firewall")
    .description("manage webknock's own firewall chain, sets or table");

  withConfigOption(
    firewall.command("init").description("create the base ruleset protecting every door's ports"),
  ).action(async (options: { config?: string }) => {
    const config = loadCliConfig(options, deps);
    const ports = protectedPorts(config);
    await adapterFor(config, deps).init(ports);
    const list = ports.map((p) => `${p.proto}/${p.port}`).join(", ") || "no ports";
    deps.stdout.write(`Firewall (${config.firewall.backend}) initialised; protecting ${list}.\n`);
  });

  withConfigOption(
    firewall.command("status").description("list live grants with their remaining time"),
  ).action(async (options: { config?: string }) => {
    const config = loadCliConfig(options, deps);
    const adapter = adapterFor(config, deps);
    const rules = await adapter.list();
    const now = deps.now();
    const lines = [
      `Firewall (${adapter.name}): ${rules.length} grant${rules.length === 1 ? "" : "s"}; expiry by ${adapter.kernelExpiry ? "kernel timeout" : "the gateway's sweeper"}.`,
    ];
    for (const rule of [...rules].sort((a, b) => a.expiresAt - b.expiresAt)) {
      const left = rule.expiresAt - now;
      lines.push(
        `  ${rule.ip} ${rule.proto}/${rule.port}  ${left > 0 ? `expires in ${formatDuration(Math.ceil(left / 1000) * 1000)}` : "expired, awaiting the sweeper"}`,
      );
    }
    deps.stdout.write(`${lines.join("\n")}\n`);
  });

  withConfigOption(
    firewall
      .command("flush")
      .description("remove webknock's grants and base ruleset, nothing else"),
  ).action(async (options: { config?: string }) => {
    const config = loadCliConfig(options, deps);
    await adapterFor(config, deps).flush();
    deps.stdout.write(`Firewall (${config.firewall.backend}) flushed.\n`);
  });
}
