import { describe, expect, it } from "vitest";
import type { DoorConfig } from "../../src/config/types.js";
import { buildLiveTable, StepTable, type LiveStep } from "../../src/knock/rotation.js";
import { currentSequence } from "../../src/client/knock.js";
import { derivePath, windowPaths } from "../../src/sequence/derive.js";
import { fakeClock, ROTATE_MS, rotatingDoor, staticDoor } from "./rotation-support.js";

/** A time well inside window W (a realistic 2026 window number for 10-minute windows). */
const W = 2_946_000;
const inWindow = (window: number, offsetMs = 1_000) => window * ROTATE_MS + offsetMs;

function pathsOf(door: DoorConfig, window: number): string[] {
  if (door.rotation === undefined) throw new Error("not rotating");
  return windowPaths(door.rotation.key, window, door.steps);
}

describe("rotating step table", () => {
  it("recognises the current window's paths as the door's steps, in order", () => {
    const api = rotatingDoor("api");
    const table = new StepTable([api], () => inWindow(W));
    pathsOf(api, W).forEach((path, index) => {
      expect(table.lookup(path)).toEqual({ door: api, index, last: index === 2 });
    });
  });

  it("changes paths at the boundary; the previous window still works; two back is gone", () => {
    const api = rotatingDoor("api");
    const clock = fakeClock(inWindow(W, ROTATE_MS - 1));
    const table = new StepTable([api], clock.now);
    const [old, current, next] = [pathsOf(api, W - 1), pathsOf(api, W), pathsOf(api, W + 1)];
    expect(next.some((path) => current.includes(path))).toBe(false);
    expect(table.lookup(next[0] ?? "")).toBeUndefined();
    expect(table.lookup(old[0] ?? "")?.door).toBe(api);

    clock.set(inWindow(W + 1, 0)); // exactly on the boundary
    next.forEach((path, index) => {
      expect(table.lookup(path)?.index).toBe(index);
    });
    current.forEach((path, index) => {
      expect(table.lookup(path)?.index).toBe(index);
    });
    for (const path of old) expect(table.lookup(path)).toBeUndefined();

    clock.set(inWindow(W + 2, 0));
    for (const path of current) expect(table.lookup(path)).toBeUndefined();
    expect(table.lookup(next[2] ?? "")?.last).toBe(true);
  });

  it("rebuilds when the clock steps back across a boundary", () => {
    const api = rotatingDoor("api");
    const clock = fakeClock(inWindow(W + 5));
    const table = new StepTable([api], clock.now);
    expect(table.lookup(pathsOf(api, W)[0] ?? "")).toBeUndefined();
    clock.set(inWindow(W));
    expect(table.lookup(pathsOf(api, W)[0] ?? "")?.index).toBe(0);
  });

  it("keeps static doors' paths, and a static door beside a rotating one works across windows", () => {
    const ssh = staticDoor("ssh", ["/img/a81f3c.png", "/s/c9e044.css"]);
    const api = rotatingDoor("api");
    const clock = fakeClock(inWindow(W));
    const table = new StepTable([ssh, api], clock.now);
    for (const t of [inWindow(W), inWindow(W + 1), inWindow(W + 7)]) {
      clock.set(t);
      expect(table.lookup("/s/c9e044.css")).toEqual({ door: ssh, index: 1, last: true });
    }
  });

  it("keeps each door's paths distinct from every other door's and window's", () => {
    const doors = ["a", "b", "c"].map((name) => rotatingDoor(name, { steps: 16 }));
    const seen = new Map<string, string>();
    for (let window = W; window < W + 200; window++) {
      for (const door of doors) {
        for (const path of pathsOf(door, window)) {
          expect(seen.get(path)).toBeUndefined();
          seen.set(path, `${door.name}/${String(window)}`);
        }
      }
    }
    expect(seen.size).toBe(3 * 16 * 200);
  });

  it("refuses a rotating path a static door holds, at start-up and at a rotation, and reports it once", () => {
    const api = rotatingDoor("api");
    const [current, next] = [pathsOf(api, W), pathsOf(api, W + 1)];
    // A static door that happens to use step 1 of the current window and step 0 of the next.
    const web = staticDoor("web", [current[1] ?? "", next[0] ?? ""]);
    const refused: LiveStep[] = [];
    const clock = fakeClock(inWindow(W));
    const table = new StepTable([api, web], clock.now, (step) => refused.push(step));

    expect(table.lookup(current[1] ?? "")).toEqual({ door: web, index: 0, last: false });
    expect(table.lookup(current[0] ?? "")?.door).toBe(api);
    expect(refused.map((s) => [s.door.name, s.window, s.index, s.heldBy])).toEqual([
      ["api", W, 1, "web"],
    ]);

    clock.set(inWindow(W + 1));
    expect(table.lookup(next[0] ?? "")?.door).toBe(web);
    expect(table.lookup(next[1] ?? "")?.door).toBe(api);
    // The start-up collision is still live (previous window) but is not reported again.
    expect(refused.map((s) => [s.window, s.index])).toEqual([
      [W, 1],
      [W + 1, 0],
    ]);
  });

  it("refuses another rotating door's path: the door earlier in the config keeps it", () => {
    // Config loading refuses one key for two doors; built directly, every path collides.
    const a = rotatingDoor("a");
    const b = rotatingDoor("b", { key: a.rotation?.key });
    const refused: LiveStep[] = [];
    const table = new StepTable(
      [a, b],
      () => inWindow(W),
      (step) => refused.push(step),
    );
    for (const path of [...pathsOf(a, W), ...pathsOf(a, W - 1)])
      expect(table.lookup(path)?.door).toBe(a);
    expect(refused).toHaveLength(6);
    expect(new Set(refused.map((s) => `${s.door.name}<${s.heldBy ?? ""}`))).toEqual(
      new Set(["b<a"]),
    );
  });

  it("lets the older window keep a path over a door earlier in the config", () => {
    // One key, windows of 10 and 5 minutes: window number 1 is [10m, 20m) for a and
    // [5m, 10m) for b. Just after 10m both are live, and b's window 1 is the older one.
    const a = rotatingDoor("a", { rotateMs: 600_000 });
    const b = rotatingDoor("b", { key: a.rotation?.key, rotateMs: 300_000 });
    const live = buildLiveTable([a, b], 600_001);
    const refused = live.rotating.filter((s) => s.heldBy !== undefined);
    expect(refused.map((s) => [s.door.name, s.window, s.heldBy])).toEqual([
      ["a", 1, "b"],
      ["a", 1, "b"],
      ["a", 1, "b"],
    ]);
    for (const path of pathsOf(a, 1)) expect(live.steps.get(path)?.door).toBe(b);
    for (const path of pathsOf(a, 0)) expect(live.steps.get(path)?.door).toBe(a);
  });

  it("re-draws a path that repeats an earlier step of its window, as the client does", () => {
    const key = Buffer.alloc(32, 7);
    // A tiny path space: the first draw of every step is the same path.
    const candidate = (k: Uint8Array, w: number, s: number, attempt: number) =>
      attempt === 0 ? "/static/img/000000000000.png" : derivePath(k, w, s, attempt);
    const paths = windowPaths(key, W, 3, candidate);
    expect(paths).toEqual([
      "/static/img/000000000000.png",
      derivePath(key, W, 1, 1),
      derivePath(key, W, 2, 1),
    ]);
    expect(windowPaths(key, W, 3, candidate)).toEqual(paths);
  });

  it("lets the client pick its window 5 s early, so a clock slightly ahead still knocks on an accepted one", () => {
    const api = rotatingDoor("api");
    const rotation = { key: api.rotation?.key ?? Buffer.alloc(32), rotateMs: ROTATE_MS, steps: 3 };
    const boundary = (W + 1) * ROTATE_MS;
    // The client's clock says 3 s past the boundary; the gateway's may still be before it.
    expect(currentSequence(rotation, () => boundary + 3000)).toEqual(pathsOf(api, W));
    const gateway = new StepTable([api], () => boundary - 1000);
    for (const path of currentSequence(rotation, () => boundary + 3000))
      expect(gateway.lookup(path)?.door).toBe(api);
    expect(currentSequence(rotation, () => boundary + 5000)).toEqual(pathsOf(api, W + 1));
    expect(currentSequence(["/a", "/b"])).toEqual(["/a", "/b"]);
  });
});
