import { execa } from "execa";
import type { Socket } from "node:net";
import type { SessionSpawner } from "./session.js";
import { FirewallError } from "../errors.js";

/** What a command printed and how it ended. */
export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/**
 * Runs one program with an argv array, never a shell. Resolves with the result even
 * for a non-zero exit (callers decide what a failure means); rejects only when the
 * program could not be started or timed out.
 */
export type CommandRunner = (
  file: string,
  args: readonly string[],
  options?: { readonly input?: string },
) => Promise<CommandResult>;

/** Options for the real runner. */
export interface ExecaRunnerOptions {
  /** Run inside this network namespace (`ip netns exec NAME ...`); tests use it. */
  readonly netns?: string;
  /** Kill a command that takes longer than this. */
  readonly timeoutMs?: number;
}

/** The real runner, on execa. */
export function createExecaRunner(options: ExecaRunnerOptions = {}): CommandRunner {
  const { netns, timeoutMs = 10_000 } = options;
  return async (file, args, { input } = {}) => {
    const [bin, argv] =
      netns === undefined ? [file, [...args]] : ["ip", ["netns", "exec", netns, file, ...args]];
    try {
      const result = await execa(bin, argv, {
        reject: false,
        shell: false,
        timeout: timeoutMs,
        input,
        stripFinalNewline: false,
        env: { LC_ALL: "C" },
      });
      if (result.failed && result.exitCode === undefined) {
        throw new FirewallError(`Cannot run ${file}: ${result.shortMessage}`);
      }
      return { stdout: result.stdout, stderr: result.stderr, exitCode: result.exitCode ?? 1 };
    } catch (error) {
      if (error instanceof FirewallError) throw error;
      throw new FirewallError(`Cannot run ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
}

/** Runs a command and rejects with FirewallError, quoting argv and stderr, on a non-zero exit. */
export async function runChecked(
  run: CommandRunner,
  file: string,
  args: readonly string[],
  options?: { readonly input?: string },
): Promise<string> {
  const result = await run(file, args, options);
  if (result.exitCode !== 0) {
    throw new FirewallError(
      `${file} ${args.join(" ")} failed with exit code ${result.exitCode}: ${result.stderr.trim() || result.stdout.trim()}`,
    );
  }
  return result.stdout;
}

/**
 * The real session spawner, on execa: a long-lived tool with a pipe on stdin and stderr
 * (stdout is not read: neither tool prints anything on success). HOME=/dev/null keeps
 * `nft -i` from writing every grant into a history file. The process is unref'd: it
 * ends with its stdin when this process exits, however that happens.
 */
export function createSessionSpawner(
  options: Pick<ExecaRunnerOptions, "netns"> = {},
): SessionSpawner {
  const { netns } = options;
  return (file, args) => {
    const [bin, argv] =
      netns === undefined ? [file, [...args]] : ["ip", ["netns", "exec", netns, file, ...args]];
    const child = execa(bin, argv, {
      reject: false,
      shell: false,
      buffer: false,
      stdin: "pipe",
      stdout: "ignore",
      stderr: "pipe",
      env: { LC_ALL: "C", HOME: "/dev/null" },
    });
    child.unref();
    for (const stream of [child.stdin, child.stderr]) (stream as Partial<Socket>).unref?.();
    return {
      stdin: child.stdin,
      stderr: child.stderr,
      kill: () => child.kill("SIGKILL"),
      onExit: (listener) => {
        void child.then(listener, listener);
      },
    };
  };
}
