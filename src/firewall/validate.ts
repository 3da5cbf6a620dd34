import { isIP } from "node:net";
import { UnsafeValueError } from "../errors.js";
import type { Proto } from "../config/types.js";
import type { FirewallRule, RuleKey } from "./types.js";

/**
 * The last gate before a value becomes a command argument. Each check is strict
 * enough that no accepted value can start with '-' or carry a shell or rule token.
 */
export function assertIp(ip: unknown): string {
  if (typeof ip !== "string" || ip.startsWith("-") || isIP(ip) === 0 || ip.includes("%")) {
    throw new UnsafeValueError("IP address", ip);
  }
  if (/^::ffff:/i.test(ip))
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

/** Validates a whole rule, including a finite expiry. */
export function assertRule(rule: FirewallRule): FirewallRule {
  if (
    typeof rule.expiresAt !== "number" ||
    !Number.isFinite(rule.expiresAt) ||
    rule.expiresAt <= 0
  ) {
    throw new UnsafeValueError("expiry", rule.expiresAt);
  }
  return { ...assertRuleKey(rule), expiresAt: Math.round(rule.expiresAt) };
}

/** Seconds left until `expiresAt`, at least 1, for kernel timeouts. */
export function secondsLeft(expiresAt: number, now: number): number {
  return Math.max(1, Math.ceil((expiresAt - now) / 1000));
}
