import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { FirewallError } from "../errors.js";
import type { FirewallRule } from "./types.js";
import { assertRule } from "./validate.js";

/**
 * A small JSON file holding the rules a backend cannot read back from the kernel (the
 * `command` backend's), so a gateway killed with SIGKILL still closes them at its next
 * start. Written atomically (temp file + rename) with mode 0600; entries are validated
 * again when read, so a tampered file cannot smuggle a value into a command.
 */
export class RuleStateFile {
  constructor(readonly path: string) {}

  /** The rules saved last; an absent file is an empty table. */
  load(): FirewallRule[] {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new FirewallError(`Cannot read ${this.path}: ${(error as Error).message}`);
    }
    let entries: unknown;
    try {
      entries = JSON.parse(text);
    } catch {
      throw new FirewallError(`${this.path} is not valid JSON; move it away to start afresh.`);
    }
    if (!Array.isArray(entries))
      throw new FirewallError(`${this.path} does not hold a list of rules.`);
    return entries.map((entry) => assertRule(entry as FirewallRule));
  }

  /** Deletes the file (uninstall); an absent file is fine. */
  remove(): void {
    rmSync(this.path, { force: true });
  }

  /** Replaces the file's content with `rules`. */
  save(rules: readonly FirewallRule[]): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const temp = `${this.path}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(rules), { mode: 0o600 });
      renameSync(temp, this.path);
    } catch (error) {
      throw new FirewallError(
        `Cannot write ${this.path}: ${(error as Error).message}. Set firewall.command.stateFile to a writable path.`,
      );
    }
  }
}
