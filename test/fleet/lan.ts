import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { addAddress, createNetns, killChild, spawnInNetns, type Netns } from "../support/netns.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

async function ip(args: readonly string[]): Promise<void> {
  const result = await execa("ip", [...args], { timeout: 10_000, reject: false });
  if (result.exitCode !== 0) throw new Error(`ip ${args.join(" ")} failed: ${result.stderr}`);
}

/**
 * One Ethernet segment for a fleet test: a bridge in its own namespace, and each member
 * joined to it by a veth pair, member i at 10.201.0.(i+1)/24 on its `wkl0`. So every host
 * sees a client under one address, as on a real LAN (point-to-point links would not).
 */
export async function createLan(
  members: readonly Netns[],
): Promise<{ lan: Netns; addr: string[] }> {
  const lan = await createNetns();
  await ip(["-n", lan.name, "link", "add", "br0", "type", "bridge"]);
  await ip(["-n", lan.name, "link", "set", "br0", "up"]);
  const addr: string[] = [];
  for (const [i, member] of members.entries()) {
    const port = `wkp${i}`;
    await ip([
      "-n",
      lan.name,
      "link",
      "add",
      port,
      "type",
      "veth",
      "peer",
      "name",
      "wkl0",
      "netns",
      member.name,
    ]);
    await ip(["-n", lan.name, "link", "set", port, "master", "br0", "up"]);
    const address = `10.201.0.${i + 1}`;
    await addAddress(member, "wkl0", `${address}/24`);
    await ip(["-n", member.name, "link", "set", "wkl0", "up"]);
    addr.push(address);
  }
  return { lan, addr };
}

/** A long-running process in a namespace whose output the test can wait on. */
export interface NetnsProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once `pattern` appears in stdout or stderr; rejects after `timeoutMs` or an exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** Starts `file args` in `ns` (argv, no shell) and collects its output. */
export function startInNetns(ns: Netns, file: string, args: readonly string[]): NetnsProcess {
  const child = spawnInNetns(ns, file, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return {
    child,
    output: () => out,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`${file} ${args.join(" ")} never printed ${pattern}:\n${out}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    kill: () => killChild(child),
  };
}

/** Starts `webknock args` from source (tsx) in `ns`. */
export function startWebknock(ns: Netns, args: readonly string[]): NetnsProcess {
  return startInNetns(ns, process.execPath, ["--import", "tsx", MAIN, ...args]);
}
