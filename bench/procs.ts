import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import type { ServerKind } from "./server-child.js";

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));
const AUTOCANNON = fileURLToPath(
  new URL("../node_modules/autocannon/autocannon.js", import.meta.url),
);

/** A free loopback port (listen on 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** A server child process. */
export interface ServerProcess {
  readonly url: string;
  /** CPU seconds (user + system) the server has used so far; NaN where /proc is missing. */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

/**
 * Starts `bench/server-child.ts KIND` under tsx and waits (at most 20 s) for READY.
 * `extra` follows the third argument (webknock-tunnel's TLS listener).
 */
export async function startServer(
  kind: ServerKind,
  redisUrl?: string,
  extra: readonly string[] = [],
): Promise<ServerProcess> {
  const port = await freePort();
  const args = ["--import", "tsx", here("./server-child.ts"), kind, String(port)];
  if (redisUrl !== undefined) args.push(redisUrl, ...extra);
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      fail(new Error(`server ${kind} did not start within 20 s: ${err}`));
    }, 20_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const match = /READY (\S+)/.exec(out);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => {
      fail(new Error(`server ${kind} exited with ${String(code)}: ${err}`));
    });
  });
  return { url, cpuSeconds: () => cpuSeconds(child.pid), stop: () => stopChild(child) };
}

/** utime + stime of a process from /proc/PID/stat, in seconds (clock ticks are 1/100 s). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the child has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      resolve();
    });
  });
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
  await exited;
  clearTimeout(timer);
}

/** What one autocannon run reports. */
export interface LoadResult {
  readonly rps: number;
  readonly requests: number;
  readonly errors: number;
  readonly statuses: string;
}

interface AutocannonJson {
  requests: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  "2xx": number;
  statusCodeStats?: Record<string, { count: number }>;
}

/** Runs the autocannon CLI in its own process against `url` and parses its JSON. */
export function runLoad(
  url: string,
  options: { connections: number; seconds: number },
): { result: Promise<LoadResult>; child: ChildProcess } {
  const args = [AUTOCANNON, "-j", "-c", String(options.connections), "-d", String(options.seconds)];
  const child = spawn(process.execPath, [...args, url], { stdio: ["ignore", "pipe", "ignore"] });
  const result = new Promise<LoadResult>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), (options.seconds + 30) * 1000);
    child.once("exit", () => {
      clearTimeout(timer);
      try {
        const json = JSON.parse(out) as AutocannonJson;
        const statuses = Object.entries(json.statusCodeStats ?? {})
          .map(([code, { count }]) => `${code}:${count}`)
          .join(" ");
        resolve({
          rps: json.requests.total / options.seconds,
          requests: json.requests.total,
          errors: json.errors + json.timeouts,
          statuses,
        });
      } catch (error) {
        reject(new Error(`autocannon gave no JSON for ${url}: ${String(error)}`));
      }
    });
  });
  return { result, child };
}
