import { mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CommandRunner } from "../../src/firewall/runner.js";
import type { Netns } from "./netns.js";

/** Where Debian keeps iptables' extensions (libxt_*.so). */
const XTABLES_LIBDIR = "/usr/lib/x86_64-linux-gnu/xtables";

/** A runner for a namespace whose iptables lacks one extension, and its cleanup. */
export interface CrippledXtables {
  /** Runs commands in the namespace with `XTABLES_LIBDIR` pointing at the reduced set. */
  readonly run: CommandRunner;
  /** Removes the directory of links; safe to call twice. */
  remove(): void;
}

/**
 * The real iptables and ip6tables, with every extension but `missing` (e.g. `libxt_time.so`):
 * how a host without that match answers, without touching the host's own files.
 */
export function xtablesWithout(ns: Netns, missing: string): CrippledXtables {
  const dir = mkdtempSync(join(tmpdir(), "webknock-xtables-"));
  for (const file of readdirSync(XTABLES_LIBDIR)) {
    if (file !== missing) symlinkSync(join(XTABLES_LIBDIR, file), join(dir, file));
  }
  return {
    run: (file, args, options) => ns.run("env", [`XTABLES_LIBDIR=${dir}`, file, ...args], options),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
