import { join, resolve } from "node:path";
import type { Command } from "commander";
import { formatDuration, parseDuration } from "../../config/duration.js";
import { newKeyText } from "../../sequence/key.js";
import { CliUsageError } from "../config-option.js";
import type { CliDeps } from "../deps.js";
import { ensurePrivateDir, writePrivate } from "../private-file.js";
import { DEFAULT_SECRET_DIR } from "./user.js";

/** Same rule as the config schema's doors keys. */
const DOOR_NAME = /^[a-z0-9_-]{1,32}$/;

interface DoorKeyOptions {
  keyDir: string;
  rotate: string;
  steps: string;
  force?: boolean;
}

/** `webknock door key NAME`: writes a rotating door's key (0600) and prints its config. */
export function registerDoorCommands(program: Command, deps: CliDeps): void {
  const door = program.command("door").description("manage doors' rotating-sequence keys");
  door
    .command("key")
    .description("write a fresh 256-bit sequence key (mode 0600) and print the door's YAML")
    .argument("<name>", "door name (a-z, 0-9, _ or -)")
    .option("--key-dir <dir>", "where to write NAME.seqkey", DEFAULT_SECRET_DIR)
    .option("--rotate <duration>", "window length printed in the YAML", "10m")
    .option("--steps <n>", "paths per knock printed in the YAML (1 to 16)", "3")
    .option("-f, --force", "replace an existing key (every current path stops working)")
    .action((name: string, options: DoorKeyOptions) => {
      if (!DOOR_NAME.test(name))
        throw new CliUsageError(`Door name ${JSON.stringify(name)}: use 1-32 of a-z, 0-9, _ or -.`);
      const rotateMs = parseDuration(options.rotate);
      if (rotateMs === undefined)
        throw new CliUsageError(`--rotate ${options.rotate} is not a duration such as 10m.`);
      const steps = Number(options.steps);
      if (!Number.isInteger(steps) || steps < 1 || steps > 16)
        throw new CliUsageError(`--steps ${options.steps}: give a whole number from 1 to 16.`);
      const dir = resolve(options.keyDir);
      const file = join(dir, `${name}.seqkey`);
      const warning = ensurePrivateDir(dir, "--key-dir DIR");
      writePrivate(
        file,
        newKeyText(),
        options.force === true,
        "--force replaces it; every current path of the door stops working",
      );
      const rotate = formatDuration(rotateMs);
      const out = [`Wrote a 256-bit sequence key for door ${name} to ${file} (mode 0600).`];
      if (warning !== undefined) out.push(warning);
      out.push(
        "",
        "Add to the gateway config:",
        "",
        "doors:",
        `  ${name}:`,
        "    sequence:",
        `      rotate: ${rotate}`,
        `      steps: ${steps}`,
        `      keyFile: ${file}`,
        "",
        "Give each client a copy of the key (mode 0600) and a profile in ~/.config/webknock/client.yaml:",
        "",
        "profiles:",
        `  ${name}:`,
        "    url: https://GATEWAY",
        `    sequenceKeyFile: ~/.config/webknock/${name}.seqkey`,
        `    rotate: ${rotate}`,
        `    steps: ${steps}`,
        "    user: USER",
        "    secretFile: ~/.config/webknock/USER.secret",
        "",
        `People without the client: 'webknock sequence show ${name} -c CONFIG' prints the current paths.`,
      );
      deps.stdout.write(`${out.join("\n")}\n`);
    });
}
