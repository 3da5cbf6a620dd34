import type { Clock } from "../clock.js";
import type { DoorConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import { windowAt, windowPaths, windowStart } from "../sequence/derive.js";
import type { StepRef } from "./engine.js";

/** One path of a rotating door's window, with when it is accepted. */
export interface LiveStep {
  readonly door: DoorConfig;
  readonly window: number;
  /** Position in the sequence, 0 first. */
  readonly index: number;
  readonly path: string;
  /** When the window begins (ms since the epoch); the path is accepted from then on. */
  readonly from: number;
  /** When the path stops being accepted: the end of the window after its own. */
  readonly until: number;
  /**
   * Set when another door held this path first (a static door, an older window, or a door
   * earlier in the config): this step is then not installed, and a knock on this window fails.
   */
  readonly heldBy?: string;
}

/** Everything the gateway recognises at one moment, and how long that stays true. */
export interface LiveTable {
  /** Path to step: static doors' paths and every installed rotating path. */
  readonly steps: ReadonlyMap<string, StepRef>;
  /** Each rotating door's previous and current window, oldest first. */
  readonly rotating: readonly LiveStep[];
  /** The table is right from this time (the latest window start of any rotating door)... */
  readonly validFrom: number;
  /** ...until this one (the next window start of any rotating door). */
  readonly validUntil: number;
}

/** Windows drawn per door, kept so a rebuild re-uses the previous window's paths. */
type WindowCache = Map<string, Map<number, readonly string[]>>;

/**
 * The table for time `t`. Static paths always keep their door. Rotating windows are then
 * installed oldest first (a path published earlier may be in a knock already), ties in config
 * order; a path another door already holds is refused, never re-drawn: a knock client holds
 * only its own door's key and could not follow a re-draw caused by a path it cannot see.
 * Within one door re-draws happen in src/sequence/derive.ts, where the client follows them.
 */
export function buildLiveTable(
  doors: readonly DoorConfig[],
  t: number,
  cache: WindowCache = new Map(),
): LiveTable {
  const steps = new Map<string, StepRef>();
  const owners = new Map<string, string>();
  for (const door of doors) {
    door.sequence.forEach((path, index) => {
      steps.set(path, { door, index, last: index === door.sequence.length - 1 });
      owners.set(path, door.name);
    });
  }
  const candidates: LiveStep[] = [];
  let validFrom = -Infinity;
  let validUntil = Infinity;
  for (const door of doors) {
    const rotation = door.rotation;
    if (rotation === undefined) continue;
    const current = windowAt(t, rotation.rotateMs);
    validFrom = Math.max(validFrom, windowStart(current, rotation.rotateMs));
    validUntil = Math.min(validUntil, windowStart(current + 1, rotation.rotateMs));
    const drawn = cache.get(door.name) ?? new Map<number, readonly string[]>();
    const kept = new Map<number, readonly string[]>();
    // Window -1 would be before the epoch: only a clock set to 1970 asks for it.
    for (const window of current > 0 ? [current - 1, current] : [current]) {
      const paths = drawn.get(window) ?? windowPaths(rotation.key, window, door.steps);
      kept.set(window, paths);
      const from = windowStart(window, rotation.rotateMs);
      const until = windowStart(window + 2, rotation.rotateMs);
      paths.forEach((path, index) => candidates.push({ door, window, index, path, from, until }));
    }
    cache.set(door.name, kept);
  }
  // Stable sort: equal start times keep config order.
  candidates.sort((a, b) => a.from - b.from);
  const rotating = candidates.map((step) => {
    const holder = owners.get(step.path);
    if (holder !== undefined) return { ...step, heldBy: holder };
    owners.set(step.path, step.door.name);
    steps.set(step.path, {
      door: step.door,
      index: step.index,
      last: step.index === step.door.steps - 1,
    });
    return step;
  });
  return { steps, rotating, validFrom, validUntil };
}

/**
 * The engine's path lookup: one Map lookup per request, as for static doors. With rotating
 * doors the table is rebuilt lazily, on the first lookup after a window boundary of the
 * injected clock (or when the clock steps back): hashing happens then, never per request.
 * `onCollision` hears each refused rotating path once.
 */
export class StepTable {
  private readonly cache: WindowCache = new Map();
  private readonly reported = new Set<string>();
  private readonly rotates: boolean;
  private live: LiveTable;

  constructor(
    private readonly doors: readonly DoorConfig[],
    private readonly now: Clock,
    private readonly onCollision: (step: LiveStep) => void = () => undefined,
  ) {
    this.rotates = doors.some((door) => door.rotation !== undefined);
    this.live = this.rebuild(now());
  }

  /** The step a path is right now, if any. */
  lookup(path: string): StepRef | undefined {
    if (this.rotates) {
      const t = this.now();
      if (t >= this.live.validUntil || t < this.live.validFrom) this.live = this.rebuild(t);
    }
    return this.live.steps.get(path);
  }

  private rebuild(t: number): LiveTable {
    const live = buildLiveTable(this.doors, t, this.cache);
    const stillLive = new Set<string>();
    for (const step of live.rotating) {
      if (step.heldBy === undefined) continue;
      const id = `${step.door.name}:${step.window}:${step.index}`;
      stillLive.add(id);
      if (!this.reported.has(id)) this.onCollision(step);
    }
    this.reported.clear();
    for (const id of stillLive) this.reported.add(id);
    return live;
  }
}

/** The audit line for a refused rotating path: which door, window and step, who holds it, the fix. */
export function logCollision(log: Logger): (step: LiveStep) => void {
  return (refused) => {
    log.warn(
      {
        event: "sequence-collision",
        door: refused.door.name,
        window: refused.window,
        step: refused.index,
        heldBy: refused.heldBy,
      },
      `a rotating path of door ${refused.door.name} is already a path of door ${refused.heldBy ?? "?"}; this step fails until the window passes. Write a new key: webknock door key ${refused.door.name} --force`,
    );
  };
}
