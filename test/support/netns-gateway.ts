import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { currentTotp } from "../../src/knock/totp.js";
import { canConnect, spawnInNetns, type Netns, type NetnsAgent } from "./netns.js";

/**
 * A real `webknock serve` process inside a test namespace, and a client that knocks on it
 * from another namespace over HTTP (so the gateway sees that client's own address).
 */

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const WARM = fileURLToPath(new URL("./warm-cli.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** How long a gateway may take to load or to listen: tsx compiles, and the box may be busy. */
const START_LIMIT_MS = 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** argv (after `node`) that runs the webknock CLI from source. */
export const cliArgs = (...args: string[]): string[] => ["--import", "tsx", MAIN, ...args];

/** A running gateway and everything it printed so far. */
export interface NetnsGateway {
  readonly child: ChildProcess;
  output(): string;
  /** Sends `signal` and waits (at most 10 s) for the process to exit. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

/** Starts `webknock serve -c FILE` in `ns` and resolves once it listens; rejects with its output. */
export async function startNetnsGateway(ns: Netns, configFile: string): Promise<NetnsGateway> {
  return (await prepareNetnsGateway(ns, configFile)).start();
}

/** A gateway process whose modules are loaded but whose `serve` has not begun. */
export interface PreparedGateway {
  /** Begins `serve` and resolves once it listens; rejects (and kills it) with its output. */
  start(): Promise<NetnsGateway>;
  /** Kills the process (for cleanup when start() was never called). */
  stop(): Promise<void>;
}

/** Spawns `webknock serve -c FILE` in `ns` with its modules loaded, waiting for start(). */
export async function prepareNetnsGateway(ns: Netns, configFile: string): Promise<PreparedGateway> {
  const child = spawnInNetns(
    ns,
    process.execPath,
    ["--import", "tsx", WARM, "serve", "-c", configFile],
    {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const gateway: NetnsGateway = {
    child,
    output: () => out,
    stop: async (signal) => {
      const gone = () => child.exitCode !== null || child.signalCode !== null;
      if (gone()) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill(signal);
      await Promise.race([exited, sleep(10_000)]);
      if (!gone()) {
        child.kill("SIGKILL");
        await Promise.race([exited, sleep(5000)]);
      }
    },
  };
  const waitFor = async (text: string, what: string) => {
    const deadline = Date.now() + START_LIMIT_MS;
    while (!out.includes(text)) {
      if (Date.now() > deadline || child.exitCode !== null) {
        await gateway.stop("SIGKILL");
        throw new Error(`webknock serve ${what}:\n${out}`);
      }
      await sleep(25);
    }
  };
  await waitFor("warm\n", "did not load");
  return {
    start: async () => {
      child.stdin?.end("go\n");
      await waitFor("webknock is listening", "did not start");
      return gateway;
    },
    stop: () => gateway.stop("SIGKILL"),
  };
}

/** What the gateway answered to a complete knock. */
export interface KnockResult {
  readonly status: number | undefined;
  /** Epoch ms of the grant's expiry, from the JSON answer; NaN when not granted. */
  readonly expiresAt: number;
}

/**
 * Walks `sequence` (the last path answers the challenge) from `agent` against `base`
 * (such as `http://10.200.1.1:8080`) and answers with a fresh TOTP code of `secret`.
 */
export async function knockFrom(
  agent: NetnsAgent,
  base: string,
  sequence: readonly string[],
  user: string,
  secret: string,
): Promise<KnockResult> {
  // A 503 is the gateway failing closed because Redis answered too slowly (a loaded test
  // machine); that is not what these tests are about, so try again, twice at most.
  let result = await knockOnce(agent, base, sequence, user, secret);
  for (let i = 0; i < 2 && result.status === 503; i++) {
    await sleep(200);
    result = await knockOnce(agent, base, sequence, user, secret);
  }
  return result;
}

async function knockOnce(
  agent: NetnsAgent,
  base: string,
  sequence: readonly string[],
  user: string,
  secret: string,
): Promise<KnockResult> {
  const json = { Accept: "application/json" };
  let step: Awaited<ReturnType<NetnsAgent["http"]>> = { ok: false, error: "empty sequence" };
  for (const path of sequence) step = await agent.http(`${base}${path}`, { headers: json });
  if (!step.ok) throw new Error(step.error);
  const { challenge } = JSON.parse(step.data ?? "{}") as { challenge?: string };
  const granted = await agent.http(`${base}${sequence.at(-1) ?? ""}`, {
    method: "POST",
    headers: { ...json, "Content-Type": "application/json" },
    body: JSON.stringify({ challenge, user, code: await currentTotp(secret, Date.now()) }),
  });
  if (!granted.ok) return { status: undefined, expiresAt: NaN };
  const body = JSON.parse(granted.data ?? "{}") as { granted?: { expiresAt?: string } };
  return { status: granted.status, expiresAt: Date.parse(body.granted?.expiresAt ?? "") };
}

/** Users every namespace gateway test configures; carol lets a client re-knock in the same TOTP step. */
export const TEST_SECRETS = {
  alice: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT",
  bob: "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU",
  carol: "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
} as const;

/** `firewall.command` (as JSON) with knockd-style templates driving the namespace's own INPUT chain. */
export function iptablesCommandTemplates(stateFile: string): string {
  const match = ["-s", "%IP%", "-p", "%PROTO%", "--dport", "%PORT%", "-j", "ACCEPT"];
  return JSON.stringify({
    open: ["iptables", "-w", "-I", "INPUT", "1", ...match],
    close: ["iptables", "-w", "-D", "INPUT", ...match],
    stateFile,
  });
}

/** The admin's own base rules for the `command` backend, as with knockd: new connections dropped. */
export async function addAdminDrop(gw: Netns, port: number): Promise<void> {
  for (const rule of [
    ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
    ["-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"],
  ]) {
    await gw.exec("iptables", ["-w", "-A", "INPUT", "-p", "tcp", "--dport", String(port), ...rule]);
  }
}

/**
 * Polls until a new connection from `agent` to `host:port` fails, bounded by count and by
 * `until` (epoch ms). Resolves with the time the first failing attempt started, or
 * undefined if the port was still open at `until`, so a port that never closes fails.
 */
export async function waitClosed(
  agent: NetnsAgent,
  host: string,
  port: number,
  until: number,
): Promise<number | undefined> {
  for (let i = 0; i < 600 && Date.now() < until; i++) {
    const started = Date.now();
    if (!(await canConnect(agent, host, port, undefined, 400)).ok) return started;
    await sleep(100);
  }
  return undefined;
}
