import { formatDuration } from "../config/duration.js";
import type { DoorConfig, RotationConfig } from "../config/types.js";
import { CLIENT_CLOCK_MARGIN_MS } from "./derive.js";
import type { ConfigSources } from "../config/sources.js";
import { readKeyFile } from "./key.js";

/** The rotating form as the schema leaves it (durations already in ms). */
export interface RawRotation {
  readonly rotate: number;
  readonly steps: number;
  readonly keyFile: string;
}

/**
 * The shortest window for a door: a knock begun with the current paths (the client picks
 * them CLIENT_CLOCK_MARGIN_MS early) must finish, challenge included, before they expire two
 * windows later. Anything shorter would let a slow but valid knock die half way.
 */
export function minimumRotateMs(sequenceTimeoutMs: number, challengeTimeoutMs: number): number {
  return sequenceTimeoutMs + challengeTimeoutMs + CLIENT_CLOCK_MARGIN_MS;
}

/**
 * Checks a rotating door's schedule and reads its key; pushes one sentence per problem
 * (key path, value, fix) and returns undefined when the door cannot rotate.
 */
export function resolveRotation(
  door: string,
  raw: RawRotation,
  timeouts: { readonly sequenceTimeoutMs: number; readonly challengeTimeoutMs: number },
  sources: ConfigSources,
  problems: string[],
): RotationConfig | undefined {
  const base = `doors.${door}.sequence`;
  const minimum = minimumRotateMs(timeouts.sequenceTimeoutMs, timeouts.challengeTimeoutMs);
  let ok = true;
  if (raw.rotate < minimum) {
    problems.push(
      `${base}.rotate: got ${formatDuration(raw.rotate)}; a knock must finish before its paths expire, so rotate at least every ${formatDuration(minimum)} (sequenceTimeout ${formatDuration(timeouts.sequenceTimeoutMs)} + challengeTimeout ${formatDuration(timeouts.challengeTimeoutMs)} + ${formatDuration(CLIENT_CLOCK_MARGIN_MS)} clock margin); 10m is usual`,
    );
    ok = false;
  }
  const key = readKeyFile(
    `${base}.keyFile`,
    raw.keyFile,
    sources,
    problems,
    `webknock door key ${door} --force`,
  );
  return ok && key !== undefined ? { rotateMs: raw.rotate, keyFile: raw.keyFile, key } : undefined;
}

/**
 * Two doors with one key would derive the same paths in every window they share: refuse it,
 * naming both, rather than let one door's knock advance the other's.
 */
export function checkDistinctKeys(doors: readonly DoorConfig[], problems: string[]): void {
  const seen = new Map<string, string>();
  for (const door of doors) {
    if (door.rotation === undefined) continue;
    const hex = door.rotation.key.toString("hex");
    const first = seen.get(hex);
    if (first !== undefined) {
      problems.push(
        `doors.${door.name}.sequence.keyFile: ${door.rotation.keyFile} holds the same key as doors.${first}.sequence.keyFile; every door needs its own key. Write one with 'webknock door key ${door.name} --force'`,
      );
    } else {
      seen.set(hex, door.name);
    }
  }
}
