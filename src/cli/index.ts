import { Command, CommanderError } from "commander";
import { ConfigError, WebknockError } from "../errors.js";
import { registerAdminCommands } from "./commands/admin.js";
import { registerAgentCommands } from "./commands/agent.js";
import { registerConfigCommands } from "./commands/config.js";
import { registerDemoCommands } from "./commands/demo.js";
import { registerDoctorCommands } from "./commands/doctor.js";
import { registerDoorCommands } from "./commands/door.js";
import { registerFirewallCommands } from "./commands/firewall.js";
import { registerKnockCommands } from "./commands/knock.js";
import { registerSequenceCommands } from "./commands/sequence.js";
import { registerServeCommands } from "./commands/serve.js";
import { registerTunnelCommands } from "./commands/tunnel.js";
import { registerUserCommands } from "./commands/user.js";
import { CliUsageError, EXIT, ExitError } from "./config-option.js";
import type { CliDeps } from "./deps.js";

/** Each command group registers itself; adding a group is one line here. */
const COMMAND_GROUPS: readonly ((program: Command, deps: CliDeps) => void)[] = [
  registerConfigCommands,
  registerServeCommands,
  registerDemoCommands,
  registerFirewallCommands,
  registerKnockCommands,
  registerTunnelCommands,
  registerUserCommands,
  registerDoorCommands,
  registerSequenceCommands,
  registerAdminCommands,
  registerDoctorCommands,
  registerAgentCommands,
];

/** Builds the CLI over injected dependencies (otplib-cli style), so tests drive it in-process. */
export function createCli(deps: CliDeps): Command {
  const program = new Command("webknock")
    .description(
      "Webknocking gateway: secret URL paths plus a TOTP code open a firewall port for one IP.",
    )
    .exitOverride()
    .configureOutput({
      writeOut: (s) => deps.stdout.write(s),
      writeErr: (s) => deps.stderr.write(s),
    });
  for (const register of COMMAND_GROUPS) register(program, deps);
  return program;
}

/** Runs the CLI and maps every failure to a clear message and a distinct exit code. */
export async function runCli(argv: readonly string[], deps: CliDeps): Promise<number> {
  try {
    await createCli(deps).parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (error instanceof ExitError) return error.exitCode;
    if (error instanceof CliUsageError || error instanceof ConfigError) {
      deps.stderr.write(`webknock: ${error.describe()}\n`);
      return EXIT.usage;
    }
    if (error instanceof WebknockError) {
      deps.stderr.write(`webknock: ${error.describe()}\n`);
      return EXIT.error;
    }
    // Anything else is a bug: one line for the user, the stack only on request.
    const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    deps.stderr.write(
      `webknock: unexpected error (ERR_INTERNAL): ${detail}. This is a bug; please report it${deps.env.WEBKNOCK_DEBUG ? "" : " (set WEBKNOCK_DEBUG=1 for the stack trace)"}.\n`,
    );
    if (deps.env.WEBKNOCK_DEBUG && error instanceof Error)
      deps.stderr.write(`${error.stack ?? ""}\n`);
    return EXIT.error;
  }
}
