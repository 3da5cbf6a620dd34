import type { PortSpec } from "../config/types.js";

/**
 * Reading rules as `iptables -S` prints them, to tell whether a rule can let a new
 * connection to a port through. Conservative: a negated or unknown match counts as
 * matching, so the doctor may ask about a harmless rule but never waves a hole through.
 */

/** One `-A CHAIN ...` line split into the parts the doctor reasons about. */
export interface XtRule {
  /** The line as printed, for messages and `-D` fixes. */
  readonly text: string;
  readonly chain: string;
  readonly tokens: readonly string[];
}

/** Splits an `-S` line into tokens, keeping quoted comments whole. */
export function parseXtRule(line: string): XtRule | undefined {
  const tokens = line.match(/"[^"]*"|\S+/g) ?? [];
  if (tokens[0] !== "-A" || tokens[1] === undefined) return undefined;
  return { text: line.trim(), chain: tokens[1], tokens };
}

/** The value after option `name`, and whether a `!` stood before the option. */
function option(rule: XtRule, name: string): { value: string; negated: boolean } | undefined {
  const i = rule.tokens.indexOf(name);
  const value = rule.tokens[i + 1];
  if (i < 0 || value === undefined) return undefined;
  return { value, negated: rule.tokens[i - 1] === "!" };
}

const PROTO_NUMBERS: Readonly<Record<string, string>> = { "6": "tcp", "17": "udp" };

/** True when a port list such as `22`, `20:23` or `22,80,1000:2000` contains `port`. */
export function portListHas(list: string, port: number): boolean {
  return list.split(",").some((item) => {
    const [low = "", high = low] = item.split(":");
    return Number(low) <= port && port <= Number(high);
  });
}

/** True when the rule's protocol and destination-port matches can select `spec`. */
export function matchesPort(rule: XtRule, spec: PortSpec): boolean {
  const proto = option(rule, "-p");
  if (proto !== undefined && !proto.negated) {
    const name = PROTO_NUMBERS[proto.value] ?? proto.value;
    if (name !== "all" && name !== spec.proto) return false;
  }
  for (const name of ["--dport", "--dports", "--ports", "--ctorigdstport"]) {
    const ports = option(rule, name);
    if (ports !== undefined && !ports.negated && !portListHas(ports.value, spec.port)) return false;
  }
  return true;
}

/** True when the rule can apply to a NEW connection (no state match, or one naming NEW). */
export function matchesNew(rule: XtRule): boolean {
  const state = option(rule, "--ctstate") ?? option(rule, "--state");
  if (state === undefined || state.negated) return true;
  return state.value.split(",").includes("NEW");
}

/** True when the rule only sees loopback traffic (`-i lo`), which never crosses the network. */
export function loopbackOnly(rule: XtRule): boolean {
  const iface = option(rule, "-i");
  return iface !== undefined && !iface.negated && iface.value === "lo";
}

/** `-j TARGET` or `-g TARGET`, or undefined for a rule that only counts. */
export function targetOf(rule: XtRule): string | undefined {
  return option(rule, "-j")?.value ?? option(rule, "-g")?.value;
}

/** Where the rule's traffic comes from, for messages: `from 10.0.0.0/8` or `from anywhere`. */
export function sourceOf(rule: XtRule): string {
  const source = option(rule, "-s");
  if (source === undefined) return "from anywhere";
  return `${source.negated ? "from anywhere except " : "from "}${source.value}`;
}

/** The `iptables -D` argv that deletes this rule (the printed spec with -A turned into -D). */
export function deleteCommand(bin: string, table: string, rule: XtRule): string {
  const spec = rule.tokens.slice(2).join(" ");
  return `${bin}${table === "filter" ? "" : ` -t ${table}`} -D ${rule.chain} ${spec}`;
}
