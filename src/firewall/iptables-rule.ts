import { UnsafeValueError } from "../errors.js";
import type { FirewallRule } from "./types.js";
import { assertRule, readBackRule } from "./validate.js";

/**
 * The iptables backend's grant rule, as argv and as `iptables -S` prints it back. Pure
 * (values in, argv or rules out) so property tests can feed it hostile values.
 *
 * A grant carries its expiry twice: in the kernel's time match (`-m time --datestop`,
 * xt_time), which stops admitting new connections at the expiry even when no webknock
 * process runs, and in its comment (`webknock exp=<epoch seconds>`), which `list()` reads
 * back so the sweeper can delete the rule afterwards and a restart can reconcile.
 */

/** The comment that tags a grant as webknock's and carries its expiry in epoch seconds. */
const COMMENT_PREFIX = "webknock exp=";

/** How xt_time (and `iptables -S`) write a date: UTC, whole seconds. */
const DATESTOP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

/**
 * Smallest stop written: xt_time reads a stop of 1970-01-01T00:00:00 (0) as "no stop at
 * all", which would admit forever. Any stop in the past never matches again.
 */
const MIN_STOP_S = 1;
/**
 * Largest stop written: 2038-01-19T03:14:07, the last second iptables of every version
 * parses (xt_time keeps seconds in 32 bits). A later expiry closes then: early, never late.
 */
const MAX_STOP_S = 2_147_483_647;

/**
 * The `--datestop` for a rule expiring at `expiresAt` (epoch ms). xt_time matches while the
 * current whole second (UTC, its default; no `--kerneltz`) is at most the stop, that is
 * until the second after it begins. So the stop is the second before the expiry's own:
 * the rule stops admitting at `floor(expiresAt / 1000)` seconds, up to 1 s before the
 * grant's expiry and never after it.
 */
export function datestopOf(expiresAt: number): string {
  const second = Math.min(MAX_STOP_S, Math.max(MIN_STOP_S, Math.floor(expiresAt / 1000) - 1));
  return new Date(second * 1000).toISOString().slice(0, 19);
}

/**
 * The match-and-target part of a grant rule, the same for `-I` and `-D` (iptables deletes
 * by exact spec, comment included). `stop` defaults to the rule's own; a rule read back
 * is deleted with the stop it was printed with, and `null` spells a rule written before
 * grants had a time match (no `-m time`), which `list()` still reads so it gets closed.
 */
export function grantRuleSpec(rule: FirewallRule, stop?: string | null): string[] {
  const safe = assertRule(rule);
  const datestop = stop === undefined ? datestopOf(safe.expiresAt) : stop;
  if (datestop !== null && !DATESTOP.test(datestop)) {
    throw new UnsafeValueError("time match stop", datestop);
  }
  return [
    "-s",
    safe.ip,
    "-p",
    safe.proto,
    "--dport",
    String(safe.port),
    "-m",
    "conntrack",
    "--ctstate",
    "NEW",
    ...(datestop === null ? [] : ["-m", "time", "--datestop", datestop]),
    "-m",
    "comment",
    "--comment",
    `${COMMENT_PREFIX}${Math.floor(safe.expiresAt / 1000)}`,
    "-j",
    "ACCEPT",
  ];
}

/**
 * A rule that can never match (its stop is in 1970) and tags itself: `init` appends and
 * deletes it to learn whether iptables and the kernel know the time match.
 */
export const TIME_PROBE_SPEC: readonly string[] = [
  "-m",
  "time",
  "--datestop",
  "1970-01-02T00:00:00",
  "-m",
  "comment",
  "--comment",
  "webknock xt_time probe",
  "-j",
  "RETURN",
];

/** A grant rule read back from the kernel, with what it takes to delete it exactly. */
export interface GrantEntry {
  /** The grant, its expiry read from the comment. */
  readonly rule: FirewallRule;
  /** The `--datestop` as printed; null for a rule without a time match (written before it). */
  readonly datestop: string | null;
}

/** A grant line exactly as `iptables -S` prints it; anything else is not webknock's grant. */
const GRANT_LINE =
  /^-A (\S+) -s (\S+)\/(32|128) -p (tcp|udp) -m (?:tcp|udp) --dport (\d{1,5}) -m conntrack --ctstate NEW(?: -m time --datestop (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}))? -m comment --comment "webknock exp=(\d{1,12})" -j ACCEPT$/;

/** Parses `iptables -S` lines of the grants chain into entries; ignores untagged lines. */
export function parseGrantEntries(chain: string, lines: readonly string[]): GrantEntry[] {
  const entries: GrantEntry[] = [];
  for (const line of lines) {
    const m = GRANT_LINE.exec(line.trim());
    if (!m || m[1] !== chain) continue;
    const [, , ip = "", , proto = "", port = "", datestop, exp = ""] = m;
    const rule = readBackRule({ ip, proto, port, expiresAt: Number(exp) * 1000 });
    if (rule) entries.push({ rule, datestop: datestop ?? null });
  }
  return entries;
}

/** Parses `iptables -S` lines of the grants chain into rules; ignores untagged lines. */
export function parseGrantLines(chain: string, lines: readonly string[]): FirewallRule[] {
  return parseGrantEntries(chain, lines).map((entry) => entry.rule);
}
