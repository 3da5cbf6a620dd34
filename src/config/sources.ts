import { readFileSync, statSync } from "node:fs";

/** What loading a config needs from the outside world, injectable for tests. */
export interface ConfigSources {
  readonly env: NodeJS.ProcessEnv;
  readonly readFile: (path: string) => string;
  /**
   * Permission bits of a file (links followed), so a secret others can read is refused.
   * Defaults to the real file system's.
   */
  readonly fileMode?: (path: string) => number;
}

/** The real process's environment and files. */
export const defaultSources: ConfigSources = {
  env: process.env,
  readFile: (path) => readFileSync(path, "utf8"),
  fileMode: realFileMode,
};

function realFileMode(path: string): number {
  return statSync(path).mode & 0o7777;
}

/** Group and other permission bits: ssh refuses a private key with any of them set. */
const SHARED_BITS = 0o077;

/**
 * Reads a file that holds a secret: refused (with the problem pushed, naming the key, the
 * file, its mode and the fix) when it cannot be read or group or others may access it.
 */
export function readPrivateFile(
  key: string,
  path: string,
  sources: ConfigSources,
  problems: string[],
  createHint: string,
): string | undefined {
  let text: string;
  try {
    text = sources.readFile(path);
  } catch (error) {
    problems.push(
      `${key}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"}); ${createHint}`,
    );
    return undefined;
  }
  let mode: number;
  try {
    mode = (sources.fileMode ?? realFileMode)(path);
  } catch (error) {
    problems.push(
      `${key}: cannot read the permissions of ${path} (${(error as NodeJS.ErrnoException).code ?? "error"}); fix the path`,
    );
    return undefined;
  }
  if ((mode & SHARED_BITS) !== 0) {
    problems.push(
      `${key}: ${path} has mode 0${(mode & 0o777).toString(8)}, so group or others may read the secret; run chmod 600 ${path}`,
    );
    return undefined;
  }
  return text;
}
