import type { Command } from "commander";
import type { GatewayConfig } from "../../config/types.js";
import { createGateway, type Gateway } from "../../gateway.js";
import { createLogger, type Logger } from "../../log.js";
import { loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/** `webknock serve -c FILE`: runs the gateway until SIGINT or SIGTERM. */
export function registerServeCommands(program: Command, deps: CliDeps): void {
  withConfigOption(program.command("serve").description("run the gateway"))
    .option("--log-level <level>", "pino log level", "info")
    .action(async (options: { config?: string; logLevel: string }) => {
      const config = loadCliConfig(options, deps);
      const log = createLogger({ level: options.logLevel });
      await runUntilSignal(config, deps, log);
    });
}

/** Starts a gateway and stops it cleanly on the first SIGINT or SIGTERM. */
export async function runUntilSignal(
  config: GatewayConfig,
  deps: CliDeps,
  log: Logger,
  onStarted?: (urls: string[], gateway: Gateway) => void | Promise<void>,
): Promise<void> {
  const gateway = createGateway(config, { log, now: deps.now });
  const urls = await gateway.start();
  await onStarted?.(urls, gateway);
  // Live reload (issue 15) is not built yet. The systemd unit's ExecReload sends SIGHUP,
  // whose default action would kill the gateway: say so instead, and keep serving.
  const refuseReload = () => {
    log.warn(
      { event: "reload-unsupported", signal: "SIGHUP" },
      "reload is not supported yet; the old config stays in force. Restart to apply changes",
    );
  };
  process.on("SIGHUP", refuseReload);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ event: "shutdown", signal }, "stopping; open grants keep their expiry");
      void gateway.stop().finally(resolve);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  }).finally(() => process.off("SIGHUP", refuseReload));
}
