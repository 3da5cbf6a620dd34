import { createHmac } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isKnockPath } from "../../src/config/names.js";
import { buildLiveTable } from "../../src/knock/rotation.js";
import {
  derivePath,
  drawDigest,
  pathParity,
  renderAssetPath,
  windowPaths,
} from "../../src/sequence/derive.js";
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
        expect(isKnockPath(path), path).toBe(true);
        expect(path.length).toBeLessThanOrEqual(200);
        expect(path.split("/")).not.toContain("..");
      }),
      { numRuns: 1000 },
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
      { numRuns: 200 },
    );
  });

  it("are a wire format: these paths must never change, or every deployed client locks out", () => {
    const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    expect(windowPaths(key, 2_946_000, 4)).toEqual([
      "/assets/print-494f547ad5adc874061a.css",
      "/uploads/a715f88bdbc8f1706c32.jpg",
      "/fonts/opensans-5fedd293526e.woff2",
      "/assets/css/critical-d7f5e6b7aee954e82342.css",
    ]);
    expect(windowPaths(key, 2_946_001, 4)).toEqual([
      "/uploads/8b9040229e9a08e81013.jpg",
      "/static/js/shared.7a3e33d6e8a50e80593b.js",
      "/js/main.18dc3da6cf15d2a5991b.min.js",
      "/static/media/montserrat.66a5116f16fd.woff2",
    ]);
    // The HMAC input as documented: domain, window (u64), step (u32), attempt (u32), big-endian.
    const input = Buffer.concat([
      Buffer.from("webknock/sequence/v1\0"),
      Buffer.from("00000000002cf3d0" + "00000002" + "00000001", "hex"),
    ]);
    expect(drawDigest(key, 2_946_000, 2, 1)).toEqual(
      createHmac("sha256", key).update(input).digest(),
    );
  });
});
