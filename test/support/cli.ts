import { runCli } from "../../src/cli/index.js";
import { readFileSync } from "node:fs";
import type { CliDeps } from "../../src/cli/deps.js";

/** What one in-process CLI run printed and returned. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in-process with real files and (unless `now` is given) clock, capturing its output. */
export async function cli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = {},
  now: () => number = Date.now,
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const deps: CliDeps = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    now,
    readFile: (path) => readFileSync(path, "utf8"),
  };
  const code = await runCli(argv, deps);
  return { code, stdout, stderr };
}
