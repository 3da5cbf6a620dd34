import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KNOCK_PATH } from "../../src/config/schema.js";
import { buildLiveTable } from "../../src/knock/rotation.js";
import { derivePath, pathParity, renderAssetPath, windowPaths } from "../../src/sequence/derive.js";
import { rotatingDoor, staticDoor } from "./rotation-support.js";

/** What real sites serve, per kind: a directory for the kind, a content hash, its extension. */
const HASH = "[0-9a-f]{12,20}";
const ASSET_PATHS = {
  image: new RegExp(
    `^/(?:static/img|images|img|media|uploads)/(?:[a-z]+[-._])?${HASH}\\.(?:png|jpg|webp|svg|gif)$`,
  ),
  script: new RegExp(`^/(?:assets/js|assets|static/js|js)/[a-z]+[-.]${HASH}(?:\\.min)?\\.js$`),
  style: new RegExp(`^/(?:css|assets/css|static/css|assets)/(?:[a-z]+[-.])?${HASH}\\.css$`),
  font: new RegExp(`^/(?:fonts|static/media)/[a-z]+[-.]${HASH}\\.woff2$`),
};
const kindOf = (path: string) =>
  (Object.keys(ASSET_PATHS) as (keyof typeof ASSET_PATHS)[]).find((kind) =>
    ASSET_PATHS[kind].test(path),
  );

const key = fc.uint8Array({ minLength: 32, maxLength: 64 });
/** Windows from the epoch to well past year 3000 at one-minute windows. */
const window = fc.integer({ min: 0, max: 2 ** 40 });
const step = fc.integer({ min: 0, max: 15 });

describe("derived paths", () => {
  it("look like the image, script, stylesheet or font they imitate, and are valid knock paths", () => {
    fc.assert(
      fc.property(key, window, step, fc.nat(3), (k, w, s, attempt) => {
        const path = derivePath(k, w, s, attempt);
        expect(kindOf(path), path).toBeDefined();
        expect(path).toMatch(KNOCK_PATH);
        expect(path.length).toBeLessThanOrEqual(200);
        expect(path.split("/")).not.toContain("..");
      }),
      { numRuns: 2000 },
    );
  });

  it("carry the window's parity in the last hex digit, whatever the digest", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), window, (bytes, w) => {
        const digest = Buffer.from(bytes);
        const even = renderAssetPath(digest, 2 * w);
        const odd = renderAssetPath(digest, 2 * w + 1);
        expect(pathParity(even)).toBe(0);
        expect(pathParity(odd)).toBe(1);
        // The same digest in two consecutive windows still gives two paths.
        expect(even).not.toBe(odd);
      }),
    );
  });

  it("mix kinds as a page load does: every kind appears, and no kind dominates", () => {
    const counts = { image: 0, script: 0, style: 0, font: 0 };
    const k = Buffer.alloc(32, 1);
    for (let w = 0; w < 500; w++)
      for (const path of windowPaths(k, w, 4)) counts[kindOf(path) ?? "image"]++;
    for (const count of Object.values(counts)) expect(count).toBeGreaterThan(100);
    expect(Math.max(...Object.values(counts))).toBeLessThan(1000);
  });

  it("are distinct within a window and from the static paths a gateway recognises", () => {
    fc.assert(
      fc.property(
        key,
        window,
        fc.integer({ min: 1, max: 16 }),
        fc.array(fc.nat(31), { maxLength: 4 }),
        (k, w, steps, stolen) => {
          const api = rotatingDoor("api", { key: Buffer.from(k), steps });
          const paths = windowPaths(Buffer.from(k), w, steps);
          expect(new Set(paths).size).toBe(steps);
          // A static door that uses some of the rotating door's paths (live windows w-1, w).
          const live = [...windowPaths(Buffer.from(k), Math.max(0, w - 1), steps), ...paths];
          const taken = [...new Set(stolen.map((i) => live[i % live.length] ?? ""))];
          const web = staticDoor("web", [...taken, "/index.html"]);
          const table = buildLiveTable([api, web], w * 600_000 + 1);
          for (const path of web.sequence) expect(table.steps.get(path)?.door).toBe(web);
          for (const s of table.rotating)
            expect(s.heldBy === "web").toBe(web.sequence.includes(s.path));
        },
      ),
      { numRuns: 300 },
    );
  });
});
