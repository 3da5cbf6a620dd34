import type { Command } from "commander";
import { formatDuration } from "../../config/duration.js";
import type { GatewayConfig } from "../../config/types.js";
import { buildLiveTable } from "../../knock/rotation.js";
import { windowAt, windowPaths, windowStart } from "../../sequence/derive.js";
import { loadProfile, rotatingSequence } from "../client-profile.js";
import { CliUsageError, loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

interface ShowOptions {
  config?: string;
  profile?: string;
  clientConfig?: string;
  url?: string;
  json?: boolean;
}

/** What `sequence show` prints about one door. */
interface Shown {
  readonly name: string;
  /** Undefined for a static door. */
  readonly rotateMs?: number;
  /** The current window's start and the end of the time its paths are accepted. */
  readonly from: number;
  readonly until: number;
  /** The paths in order; `heldBy` names another door holding one (gateway config only). */
  readonly steps: readonly { readonly path: string; readonly heldBy?: string }[];
}

/**
 * `webknock sequence show DOOR -c FILE` (the gateway's view, from the same table the gateway
 * builds, so a refused path shows up) or `--profile NAME` (a client's view, from its key copy):
 * the current paths and when they change.
 */
export function registerSequenceCommands(program: Command, deps: CliDeps): void {
  const sequence = program.command("sequence").description("show a door's knock paths");
  withConfigOption(
    sequence
      .command("show")
      .description("print a door's current paths and when they change, to bookmark or type")
      .argument("[door]", "door name in the gateway config (-c)")
      .option("-p, --profile <name>", "a client profile instead of the gateway config")
      .option("--client-config <file>", "profiles file (default: ~/.config/webknock/client.yaml)")
      .option("--url <base>", "print full URLs on this gateway, e.g. https://gw.example.net")
      .option("--json", "print the result as JSON"),
  ).action((name: string | undefined, options: ShowOptions) => {
    const now = deps.now();
    let shown: Shown;
    let url = options.url;
    if (options.profile !== undefined) {
      if (name !== undefined || options.config !== undefined)
        throw new CliUsageError("Give either DOOR -c FILE or --profile NAME, not both.");
      const profile = loadProfile(options, deps);
      url ??= profile.url;
      shown = profile.rotation
        ? rotatingShown(options.profile, rotatingSequence(profile.rotation, deps), now)
        : staticShown(options.profile, profile.sequence ?? []);
    } else {
      if (name === undefined)
        throw new CliUsageError("Name the door (sequence show DOOR -c FILE) or give --profile.");
      shown = fromConfig(loadCliConfig(options, deps), name, now);
    }
    const base = url?.replace(/\/+$/, "") ?? "";
    deps.stdout.write(
      options.json === true ? `${JSON.stringify(asJson(shown, base))}\n` : asText(shown, base, now),
    );
  });
}

function fromConfig(config: GatewayConfig, name: string, now: number): Shown {
  const door = config.doors.find((d) => d.name === name);
  if (door === undefined)
    throw new CliUsageError(
      `No door ${JSON.stringify(name)} in the config; it has ${config.doors.map((d) => d.name).join(", ")}.`,
    );
  const rotation = door.rotation;
  if (rotation === undefined) return staticShown(name, door.sequence);
  const window = windowAt(now, rotation.rotateMs);
  const steps = buildLiveTable(config.doors, now).rotating.filter(
    (s) => s.door === door && s.window === window,
  );
  return {
    name,
    rotateMs: rotation.rotateMs,
    from: windowStart(window, rotation.rotateMs),
    until: windowStart(window + 2, rotation.rotateMs),
    steps,
  };
}

function rotatingShown(
  name: string,
  rotation: { readonly key: Uint8Array; readonly rotateMs: number; readonly steps: number },
  now: number,
): Shown {
  const window = windowAt(now, rotation.rotateMs);
  return {
    name,
    rotateMs: rotation.rotateMs,
    from: windowStart(window, rotation.rotateMs),
    until: windowStart(window + 2, rotation.rotateMs),
    steps: windowPaths(rotation.key, window, rotation.steps).map((path) => ({ path })),
  };
}

function staticShown(name: string, paths: readonly string[]): Shown {
  return { name, from: 0, until: Infinity, steps: paths.map((path) => ({ path })) };
}

function asJson(shown: Shown, base: string): Record<string, unknown> {
  const paths = shown.steps.map((s) => `${base}${s.path}`);
  if (shown.rotateMs === undefined) return { door: shown.name, paths, rotates: false };
  return {
    door: shown.name,
    paths,
    rotates: true,
    rotate: formatDuration(shown.rotateMs),
    since: iso(shown.from),
    changesAt: iso(shown.from + shown.rotateMs),
    acceptedUntil: iso(shown.until),
    refused: shown.steps.flatMap((s, i) =>
      s.heldBy === undefined ? [] : [{ step: i + 1, heldBy: s.heldBy }],
    ),
  };
}

function asText(shown: Shown, base: string, now: number): string {
  const lines = shown.steps.map(
    (s, i) =>
      `  ${String(i + 1)}. ${base}${s.path}${s.heldBy === undefined ? "" : `   (held by door ${s.heldBy})`}`,
  );
  if (shown.rotateMs === undefined)
    return `${[`Door ${shown.name} does not rotate; its paths, in order:`, ...lines].join("\n")}\n`;
  const changesAt = shown.from + shown.rotateMs;
  const out = [
    `Door ${shown.name}: ${String(shown.steps.length)} paths, new every ${formatDuration(shown.rotateMs)}. Current paths, in order:`,
    ...lines,
    `They change at ${iso(changesAt)} (in ${remaining(changesAt - now)}) and are accepted until ${iso(shown.until)}.`,
  ];
  if (shown.steps.some((s) => s.heldBy !== undefined))
    out.push(
      `A path marked "held by" is another door's in this window, so a knock fails until the next one. Write a new key: webknock door key ${shown.name} --force`,
    );
  return `${out.join("\n")}\n`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** "7m 12s": rounded up, so "in 0s" never shows while the paths are still current. */
function remaining(ms: number): string {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h > 0 ? `${String(h)}h` : "", m > 0 ? `${String(m)}m` : "", `${String(s)}s`]
    .filter((part) => part !== "")
    .join(" ");
}
