import { createHmac } from "node:crypto";

/**
 * The one derivation of a rotating door's paths, shared by the gateway (src/knock/rotation.ts),
 * the knock client and `webknock sequence show`: a second copy could drift and lock users out.
 *
 * Path i of window w is rendered from HMAC-SHA256(key, DOMAIN || w || i || attempt). Within a
 * window a path equal to an earlier step is re-drawn with the next attempt, so the client,
 * holding the same key, re-draws exactly as the gateway does. The low bit of the last hex
 * digit is the window's parity, so two consecutive windows (the two a gateway accepts at
 * once) can never share a path, whatever the key.
 */

/** Domain separation: the key signs nothing else, and a future v2 rendering cannot collide. */
const DOMAIN = Buffer.from("webknock/sequence/v1\0", "latin1");
/** Re-draws per step; each costs one HMAC, and a 47-bit collision twice in a row is impossible in practice. */
const MAX_ATTEMPTS = 64;

/**
 * The client picks its paths this long in the past, so a client clock a few seconds ahead of
 * the gateway's never asks for a window the gateway has not opened yet (it accepts the
 * current and previous ones). NTP keeps clocks within milliseconds; phones within a second.
 */
export const CLIENT_CLOCK_MARGIN_MS = 5_000;

/** The window a knock client should use at `nowMs` (see CLIENT_CLOCK_MARGIN_MS). */
export function clientWindow(nowMs: number, rotateMs: number): number {
  return windowAt(nowMs - CLIENT_CLOCK_MARGIN_MS, rotateMs);
}

/** The window a time falls in: windows are aligned to the Unix epoch, so every party agrees. */
export function windowAt(nowMs: number, rotateMs: number): number {
  return Math.floor(nowMs / rotateMs);
}

/** When a window begins (ms since the epoch). */
export function windowStart(window: number, rotateMs: number): number {
  return window * rotateMs;
}

/** One HMAC draw for step `step` of `window`, before any re-draw. Exported for tests. */
export function drawDigest(key: Uint8Array, window: number, step: number, attempt: number): Buffer {
  const input = Buffer.alloc(DOMAIN.length + 16);
  DOMAIN.copy(input);
  input.writeBigUInt64BE(BigInt(window), DOMAIN.length);
  input.writeUInt32BE(step, DOMAIN.length + 8);
  input.writeUInt32BE(attempt, DOMAIN.length + 12);
  return createHmac("sha256", key).update(input).digest();
}

/**
 * The paths of one window, step 0 first. `candidate` is the draw (HMAC by default; a test
 * may pass a tiny path space to force the re-draw it cannot otherwise provoke).
 */
export function windowPaths(
  key: Uint8Array,
  window: number,
  steps: number,
  candidate: (
    key: Uint8Array,
    window: number,
    step: number,
    attempt: number,
  ) => string = derivePath,
): string[] {
  const paths: string[] = [];
  for (let step = 0; step < steps; step++) {
    let attempt = 0;
    let path = candidate(key, window, step, attempt);
    while (paths.includes(path)) {
      if (++attempt >= MAX_ATTEMPTS)
        throw new Error(
          `No distinct path for step ${step} of window ${window} after ${attempt} draws.`,
        );
      path = candidate(key, window, step, attempt);
    }
    paths.push(path);
  }
  return paths;
}

/** Step `step` of `window` at a given re-draw attempt, rendered as an asset path. */
export function derivePath(key: Uint8Array, window: number, step: number, attempt: number): string {
  return renderAssetPath(drawDigest(key, window, step, attempt), window);
}

/** How one kind of asset is named. */
interface AssetKind {
  /** `{w}` is a word, `{h}` the hex, always right before the extension (`.min.js` counts as one). */
  readonly pattern: string;
  /** The words `{w}` is drawn from; empty when the pattern has none. */
  readonly words: readonly string[];
}

/** A word list written as one line. */
const words = (list: string): readonly string[] => list.split(" ");

const IMAGE_WORDS = words(
  "logo hero banner avatar icon sprite bg thumb header promo cover badge photo preview team product",
);
const SCRIPT_WORDS = words(
  "main app vendor runtime index chunk polyfills common framework bundle analytics router home legacy shared entry",
);
const STYLE_WORDS = words(
  "styles main theme app layout print vendor base grid components site home fonts critical global tailwind",
);
const FONT_WORDS = words("inter roboto lato opensans montserrat sourcesans firasans merriweather");

/**
 * What real sites serve: hashed build outputs (webpack, Vite, CRA, Rails) and uploaded
 * images. Sixteen kinds, chosen by one digest byte, so a sequence mixes images, scripts,
 * stylesheets and fonts as a page load would.
 */
const ASSET_KINDS: readonly AssetKind[] = [
  { pattern: "/static/img/{h}.png", words: [] },
  { pattern: "/static/img/{w}-{h}.jpg", words: IMAGE_WORDS },
  { pattern: "/images/{w}.{h}.webp", words: IMAGE_WORDS },
  { pattern: "/img/{w}_{h}.svg", words: IMAGE_WORDS },
  { pattern: "/media/{w}.{h}.gif", words: IMAGE_WORDS },
  { pattern: "/uploads/{h}.jpg", words: [] },
  { pattern: "/assets/js/{w}-{h}.js", words: SCRIPT_WORDS },
  { pattern: "/assets/{w}-{h}.js", words: SCRIPT_WORDS },
  { pattern: "/static/js/{w}.{h}.js", words: SCRIPT_WORDS },
  { pattern: "/js/{w}.{h}.min.js", words: SCRIPT_WORDS },
  { pattern: "/css/{h}.css", words: [] },
  { pattern: "/assets/css/{w}-{h}.css", words: STYLE_WORDS },
  { pattern: "/static/css/{w}.{h}.css", words: STYLE_WORDS },
  { pattern: "/assets/{w}-{h}.css", words: STYLE_WORDS },
  { pattern: "/fonts/{w}-{h}.woff2", words: FONT_WORDS },
  { pattern: "/static/media/{w}.{h}.woff2", words: FONT_WORDS },
];

/** Content hashes in the wild are 8 to 20 hex digits; 12 or more keep a path at 47+ secret bits. */
const HEX_LENGTHS = [12, 16, 20] as const;

/**
 * Renders a digest as an asset path. The hex is the digest's bytes 3 onwards; the low bit of
 * its last digit is replaced by the window's parity (see the module comment). Exported for tests.
 */
export function renderAssetPath(digest: Buffer, window: number): string {
  const kind = pick(ASSET_KINDS, digest[0]);
  const length = pick(HEX_LENGTHS, digest[2]);
  const hex = digest.subarray(3, 3 + length / 2).toString("hex");
  const last = (parseInt(hex.slice(-1), 16) & ~1) | (window & 1);
  const marked = `${hex.slice(0, -1)}${last.toString(16)}`;
  const word = kind.words.length > 0 ? pick(kind.words, digest[1]) : "";
  return kind.pattern.replace("{w}", word).replace("{h}", marked);
}

/** The entry a digest byte selects (a byte modulo the list's length). */
function pick<T>(list: readonly T[], byte: number | undefined): T {
  const item = list[(byte ?? 0) % list.length];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

/**
 * The parity bit a path carries: the last hex digit before the file extension(s). Two
 * paths with different parity are different strings. Exported for tests.
 */
export function pathParity(path: string): number | undefined {
  const match = /([0-9a-f])(?:\.min)?\.[a-z0-9]+$/.exec(path);
  return match?.[1] === undefined ? undefined : parseInt(match[1], 16) & 1;
}
