import type { IncomingHttpHeaders } from "node:http";
import type { Clock } from "../clock.js";

/**
 * True when a browser says another page made it send this request (Fetch Metadata):
 * a sub-resource (`<img>`, `<script>`, `fetch()`: a `Sec-Fetch-Mode` other than
 * `navigate`) or anything started from another site (`Sec-Fetch-Site: cross-site` or
 * `same-site`: iframes, links, redirects). The visitor did not choose those paths, so
 * they must never count towards a scanner ban; otherwise any web page with 25 images
 * pointing at the gateway could get its visitors banned. Requests without the headers
 * (scanners, curl, old browsers) and the visitor's own navigations (`none`,
 * `same-origin`) count.
 */
export function isDrivenByAnotherPage(headers: IncomingHttpHeaders): boolean {
  const site = headers["sec-fetch-site"];
  const mode = headers["sec-fetch-mode"];
  return (
    (site !== undefined && site !== "none" && site !== "same-origin") ||
    (mode !== undefined && mode !== "navigate")
  );
}

/** How the scanner detector is tuned; see `limits.scanner` in the config. */
export interface ScannerOptions {
  /** Distinct unknown paths within `windowMs` that make an IP a scanner (at most 64). */
  readonly distinctPaths: number;
  readonly windowMs: number;
  /** At most this many IPs are tracked; the oldest is forgotten to make room. */
  readonly trackedIps: number;
  readonly now: Clock;
  /** Called once per window when an IP crosses the threshold; must not throw. */
  readonly onScanner: (ip: string) => void;
}

/** Per-IP state: the window's start and a 128-bit set of path hashes. */
interface Entry {
  start: number;
  b0: number;
  b1: number;
  b2: number;
  b3: number;
  distinct: number;
  flagged: boolean;
}

/**
 * Counts distinct unknown paths per client IP on the decoy fast path, in process and
 * without any I/O: one Map lookup, one FNV-1a hash of the path and a bit test per
 * request, and a fixed bound on memory (insertion-order eviction of the oldest IP).
 * Distinct paths are a 128-bit hash set, so a browser reloading one missing favicon
 * never counts twice, while a dirbuster-style scan crosses the threshold in a moment.
 * Hash collisions can only under-count, never accuse a client of paths it did not ask for.
 */
export class ScannerDetector {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: ScannerOptions) {}

  /** Notes an unknown path requested by `ip`; true when this request marked it a scanner. */
  note(ip: string, path: string): boolean {
    const now = this.options.now();
    let entry = this.entries.get(ip);
    if (entry === undefined) {
      if (this.entries.size >= this.options.trackedIps) {
        const oldest = this.entries.keys().next();
        if (oldest.done !== true) this.entries.delete(oldest.value);
      }
      entry = { start: now, b0: 0, b1: 0, b2: 0, b3: 0, distinct: 0, flagged: false };
      this.entries.set(ip, entry);
    } else if (now - entry.start >= this.options.windowMs) {
      entry.start = now;
      entry.b0 = entry.b1 = entry.b2 = entry.b3 = entry.distinct = 0;
      entry.flagged = false;
    }
    if (!addPath(entry, path) || entry.flagged) return false;
    if (entry.distinct < this.options.distinctPaths) return false;
    entry.flagged = true;
    this.options.onScanner(ip);
    return true;
  }

  /** IPs currently tracked; bounded by `trackedIps`. */
  get size(): number {
    return this.entries.size;
  }
}

/** Sets the path's bit; true when it was not set yet (a new distinct path). */
function addPath(entry: Entry, path: string): boolean {
  const hash = fnv1a(path);
  const bit = 1 << (hash & 31);
  switch ((hash >>> 5) & 3) {
    case 0:
      if ((entry.b0 & bit) !== 0) return false;
      entry.b0 |= bit;
      break;
    case 1:
      if ((entry.b1 & bit) !== 0) return false;
      entry.b1 |= bit;
      break;
    case 2:
      if ((entry.b2 & bit) !== 0) return false;
      entry.b2 |= bit;
      break;
    default:
      if ((entry.b3 & bit) !== 0) return false;
      entry.b3 |= bit;
  }
  entry.distinct++;
  return true;
}

/** 32-bit FNV-1a over UTF-16 code units: fast, and good enough to spread paths over 128 bits. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
