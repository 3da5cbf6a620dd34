import { isIP } from "node:net";
import { KERNEL_NAME } from "../config/names.js";
import { UnsafeValueError } from "../errors.js";
import { canonicalIp as canonicalAddress } from "../net/ip.js";
import { uniquePorts } from "../config/ports.js";
import type { PortSpec, Proto } from "../config/types.js";
import type { FirewallRule, RuleKey } from "./types.js";

/**
 * The last gate before a value becomes a command argument. Each check is strict
 * enough that no accepted value can start with '-' or carry a shell or rule token.
 */
export function assertIp(ip: unknown): string {
  if (typeof ip !== "string" || ip.startsWith("-") || isIP(ip) === 0 || ip.includes("%")) {
    throw new UnsafeValueError("IP address", ip);
  }
  // Every IPv4-mapped spelling (::ffff:1.2.3.4, 0::ffff:1.2.3.4, ::ffff:0102:0304) is
  // refused: net/ip.ts canonicalIp turns it into the IPv4 address before it gets here.
  if (isIP(ip) === 6 && isIP(canonicalAddress(ip) ?? "") === 4)
    throw new UnsafeValueError("IPv4-mapped address (normalise it first)", ip);
  return ip;
}

/** Ports 1 to 65535, integers only. */
export function assertPort(port: unknown): number {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new UnsafeValueError("port", port);
  }
  return port;
}

/** tcp or udp, exactly. */
export function assertProto(proto: unknown): Proto {
  if (proto !== "tcp" && proto !== "udp") throw new UnsafeValueError("protocol", proto);
  return proto;
}

/** Validates every proto/port pair and drops repeats: what a base ruleset protects. */
export function assertPorts(ports: readonly PortSpec[]): PortSpec[] {
  return uniquePorts(
    ports.map((spec) => ({ proto: assertProto(spec.proto), port: assertPort(spec.port) })),
  );
}

/** Whole seconds from 1 to ten years: what timeout options and comments accept. */
export function assertSeconds(seconds: unknown): number {
  if (
    typeof seconds !== "number" ||
    !Number.isInteger(seconds) ||
    seconds < 1 ||
    seconds > 315_360_000
  ) {
    throw new UnsafeValueError("timeout in seconds", seconds);
  }
  return seconds;
}

/** Validates ip, proto and port of a rule key; returns a fresh, trusted copy. */
export function assertRuleKey(rule: RuleKey): RuleKey {
  return { ip: assertIp(rule.ip), proto: assertProto(rule.proto), port: assertPort(rule.port) };
}

/** Latest expiry accepted: the end of year 9999, so epoch seconds always print as digits. */
const MAX_EXPIRY_MS = 253_402_300_799_999;

/**
 * Validates a whole rule, including an expiry that rounds to a whole epoch second or more:
 * anything else would write a rule whose expiry `list()` could not read back.
 */
export function assertRule(rule: FirewallRule): FirewallRule {
  const expiresAt = typeof rule.expiresAt === "number" ? Math.round(rule.expiresAt) : NaN;
  if (!Number.isFinite(expiresAt) || expiresAt < 1000 || expiresAt > MAX_EXPIRY_MS) {
    throw new UnsafeValueError("expiry", rule.expiresAt);
  }
  return { ...assertRuleKey(rule), expiresAt };
}

/** Seconds left until `expiresAt`, at least 1, for kernel timeouts. */
export function secondsLeft(expiresAt: number, now: number): number {
  return Math.max(1, Math.ceil((expiresAt - now) / 1000));
}

/** A chain, set or table name: a letter, then letters, digits, _ or -, at most 20. */
export function assertKernelName(name: unknown): string {
  if (typeof name !== "string" || !KERNEL_NAME.test(name)) {
    throw new UnsafeValueError("chain, set or table name", name);
  }
  return name;
}

/**
 * The RFC 5952 text of a valid address (IPv6 compressed, lower case; IPv4 unchanged), so
 * an address read back from the kernel compares equal to the one webknock wrote.
 */
export function canonicalIp(ip: string): string {
  const text = canonicalAddress(assertIp(ip));
  if (text === undefined) throw new UnsafeValueError("IP address", ip);
  return text;
}

/**
 * Reads one entry of a kernel listing back into a rule: the values are canonicalised and
 * validated as if they were about to be written. Undefined for anything webknock could
 * not have written (someone else's rule), which the caller skips.
 */
export function readBackRule(candidate: {
  ip: unknown;
  proto: unknown;
  port: unknown;
  expiresAt: number;
}): FirewallRule | undefined {
  try {
    return assertRule({
      ip: canonicalIp(String(candidate.ip)),
      proto: candidate.proto as FirewallRule["proto"],
      port: Number(candidate.port),
      expiresAt: candidate.expiresAt,
    });
  } catch {
    return undefined;
  }
}
