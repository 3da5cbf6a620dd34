import type { ChildProcess, SpawnOptions } from "node:child_process";
import { fileURLToPath } from "node:url";
import { spawnInNetns, type Netns } from "../../support/netns.js";

/** Child processes a lab started; each is killed when the lab is torn down. */
export type Children = Set<ChildProcess>;

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PROBE = fileURLToPath(new URL("./netns-probe.js", import.meta.url));

/** Adds `child` to `children` and drops it again once it exits. */
export function tracked(children: Children, child: ChildProcess): ChildProcess {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** How a bounded command ended. */
export interface Ran {
  /** Exit code; null when it was killed (at the time limit or by the test). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Milliseconds from start to exit. */
  readonly ms: number;
}

/** A command running in a namespace. */
export interface Running {
  readonly child: ChildProcess;
  /** Everything on stdout so far. */
  stdout(): string;
  /** Resolves when it exits (killed at the time limit: SIGTERM, then SIGKILL 1 s later). */
  readonly done: Promise<Ran>;
}

/**
 * Starts `file args` in `ns` (argv, no shell), from the repository root, bounded by
 * `timeoutMs`. SIGTERM first so ssh can reap its ProxyCommand, then SIGKILL.
 */
export function startIn(
  children: Children,
  ns: Netns,
  file: string,
  args: readonly string[],
  {
    timeoutMs = 15_000,
    input,
    env,
  }: { timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {},
): Running {
  const options: SpawnOptions = {
    cwd: ROOT,
    stdio: ["pipe", "pipe", "pipe"],
    ...(env === undefined ? {} : { env }),
  };
  const child = tracked(children, spawnInNetns(ns, file, args, options));
  const started = Date.now();
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("latin1")));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("latin1")));
  if (input === undefined) child.stdin?.end();
  else child.stdin?.end(input);
  const done = new Promise<Ran>((resolve) => {
    const term = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
    const kill = setTimeout(() => child.kill("SIGKILL"), timeoutMs + 1000);
    child.once("exit", (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      // stdio may still hold a last chunk; 'close' follows 'exit' once the pipes drain.
      const finish = () => {
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      };
      if (child.stdout?.readableEnded !== false) finish();
      else child.once("close", finish);
    });
  });
  return { child, stdout: () => stdout, done };
}

/** Runs a command in `ns` to its end (bounded); see startIn. */
export function runIn(
  children: Children,
  ns: Netns,
  file: string,
  args: readonly string[],
  options: { timeoutMs?: number; input?: string } = {},
): Promise<Ran> {
  return startIn(children, ns, file, args, options).done;
}

/** What one probe exchange saw (see netns-probe.js). */
export interface ProbeExchange {
  /** Every byte that came back, latin1. */
  readonly text: string;
  /** True when the server closed the connection within the wait. */
  readonly closed: boolean;
  readonly ms: number;
  readonly error?: string;
}

/** One exchange from inside `ns`: connect (TLS when `tls`), send `send`, collect the answer. */
export async function probeFrom(
  children: Children,
  ns: Netns,
  request: {
    host: string;
    port?: number;
    send: string;
    tls?: boolean;
    servername?: string;
    firstByteMs?: number;
    quietMs?: number;
    maxMs?: number;
  },
): Promise<ProbeExchange> {
  const body = JSON.stringify({ op: "exchange", port: 443, ...request });
  const ran = await runIn(children, ns, process.execPath, [PROBE, body], {
    timeoutMs: (request.maxMs ?? 5000) + 5000,
  });
  if (ran.code !== 0) throw new Error(`probe failed (${String(ran.code)}): ${ran.stderr}`);
  return JSON.parse(ran.stdout) as ProbeExchange;
}

/** What a flood saw: per connection, ms until the server closed it (null: still open). */
export interface FloodResult {
  readonly silent: readonly (number | null)[];
  readonly loris: readonly (number | null)[];
  /** Bytes the server sent on all the silent ones, and on all the slow ones. */
  readonly silentBytes: number;
  readonly lorisBytes: number;
  readonly refused: number;
}

/** A flood running in a namespace: `opened` resolves once every connection is up. */
export interface Flood {
  readonly opened: Promise<void>;
  readonly result: Promise<FloodResult>;
}

/** Starts `silent` silent and `loris` slow-drip connections from `ns`, held for `holdMs`. */
export function floodFrom(
  children: Children,
  ns: Netns,
  request: {
    host: string;
    port?: number;
    silent: number;
    loris: number;
    lorisBytes: string;
    lorisEveryMs: number;
    holdMs: number;
  },
): Flood {
  const body = JSON.stringify({ op: "flood", port: 443, ...request });
  const running = startIn(children, ns, process.execPath, [PROBE, body], {
    timeoutMs: request.holdMs + 20_000,
  });
  const opened = (async () => {
    const deadline = Date.now() + 15_000;
    while (!running.stdout().includes('"opened"')) {
      if (Date.now() > deadline || running.child.exitCode !== null) {
        throw new Error(`flood did not open its connections: ${running.stdout()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const result = running.done.then((ran) => {
    const last = ran.stdout.trim().split("\n").at(-1) ?? "";
    if (ran.code !== 0) throw new Error(`flood failed: ${ran.stdout} ${ran.stderr}`);
    return JSON.parse(last) as FloodResult;
  });
  // A test that fails before awaiting the result must not leave an unhandled rejection.
  result.catch(() => undefined);
  return { opened, result };
}
