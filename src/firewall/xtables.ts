import type { PortSpec } from "../config/types.js";
import type { Family } from "../net/ip.js";
import { runChecked, type CommandRunner } from "./runner.js";
import { assertKernelName, assertPorts } from "./validate.js";

/**
 * What the iptables and ipset backends share: webknock's chain in the filter table of
 * iptables and ip6tables, the jump to it from INPUT, and the per-port base ruleset.
 * Builders are pure (values in, argv or script text out) so property tests can reach them.
 */

/** Both families, in the order the backends handle them. */
export const FAMILIES: readonly Family[] = [4, 6];

/** `iptables` for IPv4, `ip6tables` for IPv6. */
export const xtablesBinary = (family: Family): string => (family === 4 ? "iptables" : "ip6tables");

/** `iptables-restore` / `ip6tables-restore`. */
export const restoreBinary = (family: Family): string => `${xtablesBinary(family)}-restore`;

/**
 * The `iptables-restore --noflush` script that (re)builds webknock's chain atomically:
 * declaring the chain flushes it inside the same commit, so running it twice leaves
 * one copy and there is never a moment without the drop. Per protected port, in order:
 * ESTABLISHED,RELATED accept (a session opened during a grant survives its close), the
 * grant match (`grant(spec)`: a jump to the grants chain or an ipset match), then a drop
 * of every other new connection. Every token is validated and space-free.
 */
export function baseChainScript(
  chain: string,
  ports: readonly PortSpec[],
  grant: (spec: PortSpec) => readonly string[],
): string {
  const name = assertKernelName(chain);
  const lines = ["*filter", `:${name} - [0:0]`];
  for (const spec of assertPorts(ports)) {
    const match = ["-A", name, "-p", spec.proto, "--dport", String(spec.port)];
    const rules = [
      [...match, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
      [...match, "-m", "conntrack", "--ctstate", "NEW", ...grant(spec)],
      [...match, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"],
    ];
    for (const tokens of rules) {
      if (tokens.some((t) => t === "" || /\s/.test(t))) {
        throw new TypeError(`A restore token is empty or has white space: ${tokens.join(" ")}`);
      }
      lines.push(tokens.join(" "));
    }
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}

/** argv checking for, and inserting, the jump from INPUT (position 1: before host rules). */
export function jumpArgs(action: "-C" | "-I" | "-D", chain: string): string[] {
  const name = assertKernelName(chain);
  return action === "-I"
    ? ["-w", "-I", "INPUT", "1", "-j", name]
    : ["-w", action, "INPUT", "-j", name];
}

/** True when the chain exists in the filter table of that family. */
export async function chainExists(
  run: CommandRunner,
  family: Family,
  chain: string,
): Promise<boolean> {
  const result = await run(xtablesBinary(family), ["-w", "-S", assertKernelName(chain)]);
  return result.exitCode === 0;
}

/** Lines of `iptables -S CHAIN` (rule specs as iptables prints them). */
export async function chainRules(
  run: CommandRunner,
  family: Family,
  chain: string,
): Promise<string[]> {
  const out = await runChecked(run, xtablesBinary(family), ["-w", "-S", assertKernelName(chain)]);
  return out.split("\n").filter((line) => line.startsWith("-A "));
}

/** Creates `chain` if it does not exist yet; leaves its rules alone if it does. */
export async function ensureChain(
  run: CommandRunner,
  family: Family,
  chain: string,
): Promise<void> {
  if (!(await chainExists(run, family, chain))) {
    await runChecked(run, xtablesBinary(family), ["-w", "-N", assertKernelName(chain)]);
  }
}

/** Builds the base chain and then the single jump to it from INPUT (`-C` before `-I`). */
export async function installBaseChain(
  run: CommandRunner,
  family: Family,
  chain: string,
  script: string,
): Promise<void> {
  await runChecked(run, restoreBinary(family), ["-w", "--noflush"], { input: script });
  const check = await run(xtablesBinary(family), jumpArgs("-C", chain));
  if (check.exitCode !== 0) await runChecked(run, xtablesBinary(family), jumpArgs("-I", chain));
}

/** Most jumps to remove: more than one only if something else duplicated it. */
const MAX_JUMPS = 16;

/**
 * Removes the jump from INPUT, then flushes and deletes each chain (callers list the
 * referencing chain first). Missing pieces are fine: flush is idempotent.
 */
export async function removeChains(
  run: CommandRunner,
  family: Family,
  chains: readonly string[],
): Promise<void> {
  const bin = xtablesBinary(family);
  const [main] = chains;
  if (main !== undefined) {
    for (let i = 0; i < MAX_JUMPS; i++) {
      if ((await run(bin, jumpArgs("-D", main))).exitCode !== 0) break;
    }
  }
  const present: string[] = [];
  for (const chain of chains) {
    if (await chainExists(run, family, chain)) present.push(chain);
  }
  for (const chain of present) await runChecked(run, bin, ["-w", "-F", chain]);
  for (const chain of present) await runChecked(run, bin, ["-w", "-X", chain]);
}
