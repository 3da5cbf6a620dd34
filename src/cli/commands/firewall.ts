import type { Command } from "commander";
import { formatDuration } from "../../config/duration.js";
import { uniquePorts } from "../../config/ports.js";
import type { GatewayConfig, PortSpec } from "../../config/types.js";
import { createExecaRunner } from "../../firewall/runner.js";
import { createFirewall } from "../../firewall/index.js";
import type { FirewallAdapter } from "../../firewall/types.js";
import { silentLogger } from "../../log.js";
import { createStoreBackend } from "../../store/backend.js";
import { loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/** Every port any door opens, once each: what `init` protects. */
export function protectedPorts(config: GatewayConfig): PortSpec[] {
  return uniquePorts(config.doors.flatMap((door) => door.open));
}

function adapterFor(config: GatewayConfig, deps: CliDeps): FirewallAdapter {
  return createFirewall(config.firewall, {
    run: createExecaRunner(),
    log: (argv) => deps.stdout.write(`would run: ${argv.join(" ")}\n`),
    now: deps.now,
  });
}

/** How the backend's grants close, for `firewall status`. */
function expiryBy(adapter: FirewallAdapter): string {
  if (adapter.kernelRemovesExpired) return "the kernel closes and removes each at its expiry";
  if (adapter.kernelExpiry) {
    return "the kernel closes each at its expiry; the sweeper then deletes the rule";
  }
  return "the sweeper closes each at its expiry (nothing closes it while webknock is down)";
}

/**
 * `webknock firewall init|status|flush|uninstall -c FILE`: builds webknock's base ruleset
 * for every door's ports, lists live grants with their remaining time, closes every grant
 * while keeping the ports closed (flush), or removes everything webknock made and nothing
 * else (uninstall). Needs CAP_NET_ADMIN except with the log backend.
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
      `Firewall (${adapter.name}): ${rules.length} grant${rules.length === 1 ? "" : "s"}; ${expiryBy(adapter)}.`,
    ];
    for (const rule of [...rules].sort((a, b) => a.expiresAt - b.expiresAt)) {
      const left = rule.expiresAt - now;
      lines.push(
        `  ${rule.ip} ${rule.proto}/${rule.port}  ${left > 0 ? `expires in ${formatDuration(Math.ceil(left / 1000) * 1000)}` : `expired${adapter.kernelExpiry ? " (the kernel no longer admits it)" : ""}, awaiting the sweeper`}`,
      );
    }
    deps.stdout.write(`${lines.join("\n")}\n`);
  });

  withConfigOption(
    firewall
      .command("flush")
      .description(
        "close every grant (kernel rules and the store's grant records); the base ruleset stays, so every door's ports stay closed",
      ),
  ).action(async (options: { config?: string }) => {
    const config = loadCliConfig(options, deps);
    const adapter = adapterFor(config, deps);
    const ports = protectedPorts(config);
    // The drop goes in (or stays) first, so no instant of the flush leaves a port open.
    await adapter.init(ports);
    const rules = (await adapter.list()).length;
    await adapter.flush();
    const records = await removeGrantRecords(config, deps);
    deps.stdout.write(
      `Firewall (${adapter.name}) flushed: ${plural(rules, "grant rule")} closed, ${records}.\n` +
        (adapter.name === "command"
          ? "Your own base rules decide what stays closed.\n"
          : `${portList(ports)} stay closed to anyone without a new grant.\n`),
    );
  });

  withConfigOption(
    firewall
      .command("uninstall")
      .description(
        "remove every chain, set or table webknock made, and nothing else; its ports fall back to the host's own rules",
      ),
  ).action(async (options: { config?: string }) => {
    const config = loadCliConfig(options, deps);
    const adapter = adapterFor(config, deps);
    const rules = (await adapter.list()).length;
    await adapter.uninstall();
    const records = await removeGrantRecords(config, deps);
    const ports = portList(protectedPorts(config));
    deps.stdout.write(
      `Firewall (${adapter.name}) uninstalled: ${plural(rules, "grant rule")} closed, ${records}; webknock's objects are gone.\n` +
        `${ports} now fall back to the host's own rules (with none, they are open to everyone).\n` +
        "A running gateway rebuilds the base ruleset at its next start: stop it first.\n",
    );
  });
}

const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;

const portList = (ports: readonly PortSpec[]): string =>
  ports.length === 0 ? "No ports" : `Ports ${ports.map((p) => `${p.proto}/${p.port}`).join(", ")}`;

/**
 * Removes every grant record from a Redis store and says how many. The embedded memory
 * store lives inside the gateway process, out of this command's reach: say so.
 */
async function removeGrantRecords(config: GatewayConfig, deps: CliDeps): Promise<string> {
  if (config.store.redis === undefined) {
    return "no store records touched (the memory store lives in the gateway process; a running gateway lists them until they expire)";
  }
  // A failure to reach Redis rejects connect() and reaches the user as the command's error.
  const backend = createStoreBackend(config, { now: deps.now, log: silentLogger() });
  try {
    await backend.connect();
    const grants = await backend.store.listGrants();
    for (const grant of grants) await backend.store.removeGrant(grant.door, grant.ip);
    return `${plural(grants.length, "grant record")} removed from Redis`;
  } finally {
    await backend.close();
  }
}
