import type { Command } from "commander";
import { formatDuration } from "../../config/duration.js";
import type { DoorConfig } from "../../config/types.js";
import { buildLiveTable, type LiveStep } from "../../knock/rotation.js";
import { windowAt } from "../../sequence/derive.js";
import { CliUsageError, loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

interface ShowOptions {
  config?: string;
  url?: string;
  json?: boolean;
}

/**
 * `webknock sequence show DOOR -c FILE`: the door's current paths and when they change, from
 * the same table the gateway builds (so a refused path shows up here too).
 */
export function registerSequenceCommands(program: Command, deps: CliDeps): void {
  const sequence = program.command("sequence").description("show a door's knock paths");
  withConfigOption(
    sequence
      .command("show")
      .description("print a door's current paths and when they change, to bookmark or type")
      .argument("<door>", "door name")
      .option("--url <base>", "print full URLs on this gateway, e.g. https://gw.example.net")
      .option("--json", "print the result as JSON"),
  ).action((name: string, options: ShowOptions) => {
    const config = loadCliConfig(options, deps);
    const door = config.doors.find((d) => d.name === name);
    if (door === undefined)
      throw new CliUsageError(
        `No door ${JSON.stringify(name)} in the config; it has ${config.doors.map((d) => d.name).join(", ")}.`,
      );
    const base = options.url?.replace(/\/+$/, "") ?? "";
    const now = deps.now();
    const steps = currentSteps(config.doors, door, now);
    const paths = steps.map((s) => `${base}${s.path}`);
    const rotateMs = door.rotation?.rotateMs;
    if (options.json === true) {
      deps.stdout.write(
        `${JSON.stringify({
          door: door.name,
          paths,
          ...(rotateMs === undefined
            ? { rotates: false }
            : {
                rotates: true,
                rotate: formatDuration(rotateMs),
                since: iso(steps[0]?.from),
                changesAt: iso((steps[0]?.from ?? 0) + rotateMs),
                acceptedUntil: iso(steps[0]?.until),
                refused: steps.flatMap((s) =>
                  s.heldBy === undefined ? [] : [{ step: s.index + 1, heldBy: s.heldBy }],
                ),
              }),
        })}\n`,
      );
      return;
    }
    const out: string[] = [];
    if (rotateMs === undefined) {
      out.push(`Door ${door.name} does not rotate; its paths, in order:`, ...lines(steps, paths));
    } else {
      const changesAt = (steps[0]?.from ?? 0) + rotateMs;
      out.push(
        `Door ${door.name}: ${String(door.steps)} paths, new every ${formatDuration(rotateMs)}. Current paths, in order:`,
        ...lines(steps, paths),
        `They change at ${iso(changesAt)} (in ${remaining(changesAt - now)}) and are accepted until ${iso(steps[0]?.until)}.`,
      );
      if (steps.some((s) => s.heldBy !== undefined))
        out.push(
          `A path marked "held by" is another door's in this window, so a knock fails until the next one. Write a new key: webknock door key ${door.name} --force`,
        );
    }
    deps.stdout.write(`${out.join("\n")}\n`);
  });
}

/** The door's paths now: the static list, or the current window of a rotating door. */
function currentSteps(doors: readonly DoorConfig[], door: DoorConfig, now: number): LiveStep[] {
  const rotation = door.rotation;
  if (rotation === undefined)
    return door.sequence.map((path, index) => ({
      door,
      window: 0,
      index,
      path,
      from: 0,
      until: Infinity,
    }));
  const window = windowAt(now, rotation.rotateMs);
  return buildLiveTable(doors, now).rotating.filter((s) => s.door === door && s.window === window);
}

function lines(steps: readonly LiveStep[], paths: readonly string[]): string[] {
  return steps.map(
    (s, i) =>
      `  ${String(i + 1)}. ${paths[i] ?? s.path}${s.heldBy === undefined ? "" : `   (held by door ${s.heldBy})`}`,
  );
}

function iso(ms: number | undefined): string {
  return new Date(ms ?? 0).toISOString();
}

/** "7m 12s": minutes and seconds, rounded up so "in 0s" never shows while paths are live. */
function remaining(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h > 0 ? `${String(h)}h` : "", m > 0 ? `${String(m)}m` : "", `${String(s)}s`]
    .filter((part) => part !== "")
    .join(" ");
}
