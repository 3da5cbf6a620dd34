import type { Command } from "commander";
import { loadConfigFile } from "../config/load.js";
import { WebknockError } from "../errors.js";
import type { GatewayConfig } from "../config/types.js";
import type { CliDeps } from "./deps.js";

/** Adds the shared `-c, --config FILE` option (falls back to WEBKNOCK_CONFIG). */
export function withConfigOption(command: Command): Command {
  return command.option("-c, --config <file>", "config file (default: $WEBKNOCK_CONFIG)");
}

/** Resolves the config path from the option or the environment and loads it. */
export function loadCliConfig(options: { config?: string }, deps: CliDeps): GatewayConfig {
  const path = options.config ?? deps.env.WEBKNOCK_CONFIG;
  if (path === undefined || path === "") {
    throw new CliUsageError("No config file given: pass -c FILE or set WEBKNOCK_CONFIG.");
  }
  return loadConfigFile(path, { env: deps.env, readFile: deps.readFile });
}

/** Bad arguments; the CLI exits with EXIT.usage. The message names the argument and the fix. */
export class CliUsageError extends WebknockError {
  constructor(message: string, options?: ErrorOptions & { readonly fix?: string }) {
    super("ERR_USAGE", message, options);
  }
}

/** Exit codes, distinct per outcome so scripts can branch on them. */
export const EXIT = Object.freeze({
  ok: 0,
  /** Unexpected failure. */
  error: 1,
  /** Bad arguments or an invalid config. */
  usage: 2,
  /** The gateway refused (knock client). */
  denied: 3,
  /** The gateway could not be reached (knock client). */
  unreachable: 4,
});

/** Thrown by a command that has already printed its outcome and wants a given exit code. */
export class ExitError extends WebknockError {
  constructor(readonly exitCode: number) {
    super("ERR_EXIT", `exit ${exitCode}`);
  }
}
