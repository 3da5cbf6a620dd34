import { chmodSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { CliUsageError } from "./config-option.js";

/** Creates the directory 0700 if missing; returns a warning when an existing one is too open. */
export function ensurePrivateDir(dir: string, option = "--secret-dir DIR"): string | undefined {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new CliUsageError(
      `Cannot create ${dir} (${(error as NodeJS.ErrnoException).code ?? "error"}); pass ${option} or run as a user who may write there.`,
    );
  }
  const mode = statSync(dir).mode & 0o777;
  return (mode & 0o077) === 0
    ? undefined
    : `Warning: ${dir} is mode 0${mode.toString(8)}; other users may list it. chmod 700 ${dir}`;
}

/** Writes a file readable by its owner only; refuses to replace one unless forced. */
export function writePrivate(
  path: string,
  data: string | Buffer,
  force: boolean,
  hint: string,
): void {
  try {
    writeFileSync(path, data, { mode: 0o600, flag: force ? "w" : "wx" });
    // `mode` applies only when the file is created; a forced replace keeps the old mode.
    chmodSync(path, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new CliUsageError(
      code === "EEXIST"
        ? `${path} already exists; refusing to overwrite it (${hint}).`
        : `Cannot write ${path} (${code}).`,
    );
  }
}
