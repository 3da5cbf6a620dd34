import type { z } from "zod";

/** Longest rendering of a received value; a config value longer than this is cut with "...". */
const MAX_SHOWN_CHARS = 80;

/** Keys whose values are secrets: a message says what is wrong with them, never what they are. */
const SECRET_KEYS = new Set(["secret"]);

/** `doors.ssh.sequence[1]` from a zod path; `(top level)` for the root. */
export function keyPath(path: readonly PropertyKey[]): string {
  const text = path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  return text.replace(/^\./, "") || "(top level)";
}

/**
 * How a received value is shown in a message: JSON for scalars and lists, the key names
 * of a mapping (its values may be secrets), and never the value of a secret key.
 */
export function showValue(value: unknown, path: readonly PropertyKey[]): string {
  const last = path.at(-1);
  if (typeof last === "string" && SECRET_KEYS.has(last)) {
    return typeof value === "string"
      ? `a value of ${value.length} characters (not shown)`
      : `a ${typeOf(value)} (not shown)`;
  }
  if (value === undefined) return "nothing";
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    return keys.length === 0 ? "an empty mapping" : `a mapping with keys ${keys.join(", ")}`;
  }
  const json = JSON.stringify(value);
  return json.length > MAX_SHOWN_CHARS ? `${json.slice(0, MAX_SHOWN_CHARS)}...` : json;
}

/** The YAML type name of a value, for "expected a list, got a number". */
function typeOf(value: unknown): string {
  if (Array.isArray(value)) return "list";
  if (value === null) return "null";
  if (typeof value === "object") return "mapping";
  return typeof value;
}

/** A fix for a wrong type when the schema gave none: what to write instead. */
const TYPE_FIX: Readonly<Record<string, string>> = {
  string: "write a text value",
  number: "write a number",
  boolean: "write true or false",
  array: "write a list such as [a, b]",
  object: "write a mapping of keys to values",
};

/**
 * One sentence per zod issue: the key path, the value received and the fix, as
 * `firewall.backend: got "pfctl"; choose one of iptables, ipset, nftables, command, log`.
 * Needs issues parsed with `reportInput: true`; every schema message is written as a fix.
 */
export function describeIssue(issue: z.core.$ZodIssue): string {
  const key = keyPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    return `${key}: got unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}; check the spelling against config/webknock.example.yaml`;
  }
  if (issue.code === "invalid_type" && issue.input === undefined) {
    const fix = issue.message.startsWith("Invalid input")
      ? "see config/webknock.example.yaml"
      : issue.message;
    return `${key}: is required; ${fix}`;
  }
  if (issue.code === "invalid_union" && "discriminator" in issue) {
    // A union keyed on a field (firewall.backend): name that field and its value.
    const field = String(issue.discriminator);
    const input: unknown = issue.input;
    const value =
      typeof input === "object" && input !== null
        ? (input as Record<string, unknown>)[field]
        : undefined;
    const where = keyPath([...issue.path]);
    return value === undefined
      ? `${where}: is required; ${issue.message}`
      : `${where}: got ${showValue(value, issue.path)}; ${issue.message}`;
  }
  const got = showValue(issue.input, issue.path);
  if (issue.code === "invalid_key") {
    // A record key (door or user name) broke its pattern: the key's own issue holds the fix.
    return `${key}: got the name ${got}; ${issue.issues[0]?.message ?? "rename it"}`;
  }
  if (issue.code === "invalid_type" && issue.message.startsWith("Invalid input")) {
    // zod's own wording names no fix; say what to write instead.
    const fix = TYPE_FIX[issue.expected] ?? `write a ${issue.expected}`;
    return `${key}: got ${got}, a ${typeOf(issue.input)}; ${fix}`;
  }
  return `${key}: got ${got}; ${issue.message}`;
}
