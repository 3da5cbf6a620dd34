import type { Command } from "commander";
import { parse } from "yaml";
import { createExecaRunner } from "../../firewall/runner.js";
import { ExitError, loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/** Exit code when the doctor found a problem (or, with --strict, a warning). */
export const DOCTOR_FOUND_PROBLEMS = 1;

/**
 * `webknock doctor -c FILE`: checks the live system against the config (firewall reached
 * first, no Docker DNAT or untracked bypass, IPv6 covered, Redis, clock, file modes,
 * certificates), prints each finding with its fix, and exits non-zero on a problem.
 */
export function registerDoctorCommands(program: Command, deps: CliDeps): void {
  withConfigOption(
    program
      .command("doctor")
      .description("check that the live system really enforces the config, and name the fixes"),
  )
    .option("--strict", "exit non-zero on warnings too (for monitoring)")
    .action(async (options: { config?: string; strict?: boolean }) => {
      // Loaded on use: the checks are not needed by the other commands' start-up.
      const { ALL_CHECKS, countOf, formatReport, runChecks, systemContext } =
        await import("../../doctor/index.js");
      const config = loadCliConfig(options, deps);
      const path = options.config ?? deps.env.WEBKNOCK_CONFIG ?? "";
      const raw = parse(deps.readFile(path)) as unknown;
      const ctx = systemContext(config, raw, path, createExecaRunner(), deps.now);
      const results = await runChecks(ALL_CHECKS, ctx);
      deps.stdout.write(formatReport(results));
      const failing =
        countOf(results, "problem") + (options.strict === true ? countOf(results, "warning") : 0);
      if (failing > 0) throw new ExitError(DOCTOR_FOUND_PROBLEMS);
    });
}
