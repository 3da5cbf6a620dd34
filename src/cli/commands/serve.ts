import type { Command } from "commander";
import type { GatewayConfig } from "../../config/types.js";
import { createGateway, type Gateway } from "../../gateway.js";
import { createLogger, type Logger } from "../../log.js";
import { loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/** `webknock serve -c FILE`: runs the gateway until SIGINT or SIGTERM; SIGHUP reloads. */
export function registerServeCommands(program: Command, deps: CliDeps): void {
  withConfigOption(program.command("serve").description("run the gateway"))
    .option("--log-level <level>", "pino log level", "info")
    .action(async (options: { config?: string; logLevel: string }) => {
      const config = loadCliConfig(options, deps);
      const log = createLogger({ level: options.logLevel });
      // A reload reads the same file (and environment) again.
      await runUntilSignal(config, deps, log, undefined, () => loadCliConfig(options, deps));
    });
}

/**
 * Starts a gateway and stops it cleanly on the first SIGINT or SIGTERM. SIGHUP (the
 * systemd unit's ExecReload) reloads it through `loadConfig`; without one (the demo,
 * whose config is built in code) the reload is refused and logged, never fatal.
 */
export async function runUntilSignal(
  config: GatewayConfig,
  deps: CliDeps,
  log: Logger,
  onStarted?: (urls: string[], gateway: Gateway) => void | Promise<void>,
  loadConfig?: () => GatewayConfig,
): Promise<void> {
  const gateway = createGateway(config, {
    log,
    now: deps.now,
    ...(loadConfig === undefined ? {} : { loadConfig }),
  });
  const urls = await gateway.start();
  await onStarted?.(urls, gateway);
  const reload = () => {
    log.info({ event: "reload", signal: "SIGHUP" }, "reloading the config");
    // The outcome is logged by the gateway: one line per problem when refused.
    void gateway.reload();
  };
  process.on("SIGHUP", reload);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ event: "shutdown", signal }, "stopping; open grants keep their expiry");
      void gateway.stop().finally(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  }).finally(() => process.off("SIGHUP", reload));
}
