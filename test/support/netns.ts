import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { execa } from "execa";
import {
  createExecaRunner,
  createSessionSpawner,
  type CommandRunner,
} from "../../src/firewall/runner.js";
import type { SessionSpawner } from "../../src/firewall/session.js";

/**
 * Network namespaces for tests that need a real kernel firewall and real TCP without
 * touching the host: every firewall command and every packet stays inside namespaces
 * created here. Names are `<prefix>-<pid>-<hex>` (prefix `wk` unless a suite picks its own)
 * so a later run can tell which ones were left behind by a dead process (and never deletes
 * a concurrent run's).
 */

const NAME = /^[a-z]{2,8}-(\d+)-[0-9a-f]+$/;
const AGENT = fileURLToPath(new URL("./netns-agent.js", import.meta.url));

/** A namespace this process created. */
export interface Netns {
  readonly name: string;
  /** The adapter-facing runner: each command runs inside the namespace. */
  readonly run: CommandRunner;
  /** Starts long-lived tool sessions (nft -i, ipset -) inside the namespace. */
  readonly spawn: SessionSpawner;
  /** Runs a command inside the namespace; rejects on a non-zero exit. Returns stdout. */
  exec(file: string, args: readonly string[], input?: string): Promise<string>;
}

async function ip(args: readonly string[]): Promise<string> {
  const result = await execa("ip", [...args], { shell: false, timeout: 10_000, reject: false });
  if (result.exitCode !== 0) {
    throw new Error(`ip ${args.join(" ")} failed: ${result.stderr}`);
  }
  return result.stdout;
}

/** True when a process with this pid still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Deletes `<prefix>-<pid>-*` namespaces whose creating process is gone (left by a crashed run). */
export async function deleteStaleNetns(): Promise<string[]> {
  const names = (await ip(["netns", "list"]))
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => {
      const pid = NAME.exec(name)?.[1];
      return pid !== undefined && Number(pid) !== process.pid && !alive(Number(pid));
    });
  for (const name of names) await ip(["netns", "del", name]).catch(() => undefined);
  return names;
}

/** Creates a namespace with loopback up; `prefix` (2 to 8 letters) names the suite that made it. */
export async function createNetns(prefix = "wk"): Promise<Netns> {
  if (!/^[a-z]{2,8}$/.test(prefix)) throw new RangeError(`netns prefix ${prefix}`);
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
  await ip(["netns", "add", name]);
  await ip(["-n", name, "link", "set", "lo", "up"]);
  const run = createExecaRunner({ netns: name, timeoutMs: 10_000 });
  return {
    name,
    run,
    spawn: createSessionSpawner({ netns: name }),
    exec: async (file, args, input) => {
      const result = await run(file, args, input === undefined ? {} : { input });
      if (result.exitCode !== 0) {
        throw new Error(`${file} ${args.join(" ")} in ${name} failed: ${result.stderr}`);
      }
      return result.stdout;
    },
  };
}

/** Deletes namespaces; missing ones are fine (cleanup must not fail on a half-built test). */
export async function deleteNetns(...spaces: readonly (Netns | undefined)[]): Promise<void> {
  for (const ns of spaces) {
    if (ns !== undefined) await ip(["netns", "del", ns.name]).catch(() => undefined);
  }
}

/** Both ends of a veth link and their addresses. */
export interface Link {
  /** Interface names inside each namespace. */
  readonly ifA: string;
  readonly ifB: string;
  readonly a4: string;
  readonly b4: string;
  readonly a6: string;
  readonly b6: string;
}

/**
 * Joins two namespaces with a veth pair on 10.200.<subnet>.0/24 and fd00:200:<subnet>::/64
 * (`.1`/`::1` on `a`, `.2`/`::2` on `b`). `nodad` makes the IPv6 addresses usable at once.
 * The interfaces are `<prefix>a<subnet>` and `<prefix>b<subnet>` (at most 15 characters).
 */
export async function connectNetns(
  a: Netns,
  b: Netns,
  subnet: number,
  prefix = "wk",
): Promise<Link> {
  if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) throw new RangeError("subnet");
  if (!/^[a-z]{2,8}$/.test(prefix)) throw new RangeError(`veth prefix ${prefix}`);
  const ifA = `${prefix}a${subnet}`;
  const ifB = `${prefix}b${subnet}`;
  await ip([
    "-n",
    a.name,
    "link",
    "add",
    ifA,
    "type",
    "veth",
    "peer",
    "name",
    ifB,
    "netns",
    b.name,
  ]);
  const link: Link = {
    ifA,
    ifB,
    a4: `10.200.${subnet}.1`,
    b4: `10.200.${subnet}.2`,
    a6: `fd00:200:${subnet}::1`,
    b6: `fd00:200:${subnet}::2`,
  };
  await addAddress(a, ifA, `${link.a4}/24`);
  await addAddress(a, ifA, `${link.a6}/64`);
  await addAddress(b, ifB, `${link.b4}/24`);
  await addAddress(b, ifB, `${link.b6}/64`);
  await ip(["-n", a.name, "link", "set", ifA, "up"]);
  await ip(["-n", b.name, "link", "set", ifB, "up"]);
  return link;
}

/** Adds an address (IPv6 without duplicate address detection) to an interface. */
export async function addAddress(ns: Netns, ifname: string, cidr: string): Promise<void> {
  const extra = cidr.includes(":") ? ["nodad"] : [];
  await ip(["-n", ns.name, "addr", "add", cidr, "dev", ifname, ...extra]);
}

/** Outcome of an agent request. */
export type AgentReply =
  { ok: true; conn?: number; data?: string; status?: number } | { ok: false; error: string };

/** A TCP helper process running inside a namespace (see netns-agent.js). */
export interface NetnsAgent {
  /** Starts a TCP echo server on `port` (all addresses, IPv4 and IPv6). */
  listen(port: number): Promise<void>;
  /** Tries a TCP connection; resolves `{ ok: false, error: "ETIMEDOUT" }` when dropped. */
  connect(
    host: string,
    port: number,
    localAddress?: string,
    timeoutMs?: number,
  ): Promise<AgentReply>;
  /** Sends `data` on an open connection and waits for the echo. */
  echo(conn: number, data: string, timeoutMs?: number): Promise<AgentReply>;
  /** An HTTP request made from inside the namespace (so the server sees this client's IP). */
  http(
    url: string,
    options?: {
      method?: string;
      headers?: Record<string, string>;
      body?: string;
      timeoutMs?: number;
    },
  ): Promise<AgentReply>;
  /** Kills the helper and waits for it to exit. */
  stop(): Promise<void>;
}

/** Spawns a process inside a namespace (argv only, no shell). */
export function spawnInNetns(
  ns: Netns,
  file: string,
  args: readonly string[],
  options: SpawnOptions = {},
): ChildProcess {
  return spawn("ip", ["netns", "exec", ns.name, file, ...args], { ...options, shell: false });
}

/** Kills a child with SIGKILL and waits (at most 5 s) for it to exit. */
export async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
}

/** Starts the TCP helper inside `ns` and waits until it is ready. */
export async function startAgent(ns: Netns): Promise<NetnsAgent> {
  const child = spawnInNetns(ns, process.execPath, [AGENT], { stdio: ["pipe", "pipe", "inherit"] });
  const pending = new Map<number, (reply: AgentReply) => void>();
  let nextId = 1;
  const { stdin, stdout } = child;
  if (stdin === null || stdout === null) throw new Error("agent has no stdio");
  const ready = new Promise<void>((resolve, reject) => {
    pending.set(0, () => {
      resolve();
    });
    child.once("exit", (code) => {
      reject(new Error(`netns agent exited with ${String(code)}`));
    });
    setTimeout(() => {
      reject(new Error("netns agent did not start within 10 s"));
    }, 10_000).unref();
  });
  createInterface({ input: stdout }).on("line", (line) => {
    const { id, ...reply } = JSON.parse(line) as { id: number } & AgentReply;
    pending.get(id)?.(reply);
    pending.delete(id);
  });
  const request = (body: Record<string, unknown>): Promise<AgentReply> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      stdin.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  try {
    await ready;
  } catch (error) {
    await killChild(child);
    throw error;
  }
  return {
    listen: async (port) => {
      const reply = await request({ op: "listen", port });
      if (!reply.ok) throw new Error(`listen on ${port} in ${ns.name} failed: ${reply.error}`);
    },
    connect: (host, port, localAddress, timeoutMs = 1000) =>
      request({ op: "connect", host, port, localAddress, timeoutMs }),
    echo: (conn, data, timeoutMs = 1000) => request({ op: "echo", conn, data, timeoutMs }),
    http: (url, options = {}) => request({ op: "http", url, ...options }),
    stop: () => killChild(child),
  };
}

/** Connects, exchanges one line and reports whether data flowed; the connection stays open. */
export async function canConnect(
  agent: NetnsAgent,
  host: string,
  port: number,
  localAddress?: string,
  timeoutMs = 1000,
): Promise<{ ok: boolean; conn?: number }> {
  const reply = await agent.connect(host, port, localAddress, timeoutMs);
  if (!reply.ok || reply.conn === undefined) return { ok: false };
  const echoed = await agent.echo(reply.conn, "ping\n", timeoutMs);
  return { ok: echoed.ok, conn: reply.conn };
}
