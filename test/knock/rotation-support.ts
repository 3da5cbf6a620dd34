import { randomBytes } from "node:crypto";
import type { DoorConfig } from "../../src/config/types.js";

/** Ten minutes, the documented default window. */
export const ROTATE_MS = 600_000;

/** A rotating door built directly (the table and the derivation take resolved configs). */
export function rotatingDoor(
  name: string,
  options: { key?: Buffer; rotateMs?: number; steps?: number } = {},
): DoorConfig {
  const steps = options.steps ?? 3;
  return {
    name,
    sequence: [],
    steps,
    rotation: {
      rotateMs: options.rotateMs ?? ROTATE_MS,
      keyFile: `/etc/webknock/secrets/${name}.seqkey`,
      key: options.key ?? randomBytes(32),
    },
    sequenceTimeoutMs: 20_000,
    challengeTimeoutMs: 60_000,
    open: [{ proto: "tcp", port: 22 }],
    openForMs: 30_000,
    users: ["alice"],
    sources: [],
  };
}

/** A static door with the given paths. */
export function staticDoor(name: string, sequence: readonly string[]): DoorConfig {
  return { ...rotatingDoor(name), sequence, steps: sequence.length, rotation: undefined };
}

/** A settable fake clock. */
export function fakeClock(start: number): { now: () => number; set: (t: number) => void } {
  let t = start;
  return {
    now: () => t,
    set: (next) => {
      t = next;
    },
  };
}
