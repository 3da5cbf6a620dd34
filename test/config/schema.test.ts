import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { configSchema, SEQUENCE_FORMS } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";

/**
 * Walks the config schema and breaks every rule it holds (each enum, each min/max/regex/int
 * check, each record key pattern, each refinement and transform), one at a time, in an
 * otherwise valid config. Every resulting message must name the key path, the value
 * received and a fix. The cases come from the schema itself, so a new key cannot escape:
 * a refinement this file has no bad value for fails the coverage test below.
 */

const SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/** A config that sets every optional section, so every key path exists to be broken. */
const base = (): Record<string, unknown> => ({
  server: {
    listen: [
      {
        host: "127.0.0.1",
        port: 8080,
        tls: { cert: "/c.pem", key: "/k.pem", minVersion: "TLSv1.3" },
      },
    ],
    trustProxy: ["loopback"],
  },
  store: { redis: "redis://127.0.0.1:6379/0", keyPrefix: "wk:" },
  firewall: { backend: "log", chain: "WEBKNOCK", table: "webknock", sweepInterval: "1s" },
  doors: {
    ssh: {
      sequence: ["/a1", "/b2"],
      sequenceTimeout: "20s",
      challengeTimeout: "60s",
      open: ["tcp/22"],
      openFor: "30s",
      users: ["alice"],
      sources: ["10.0.0.0/8"],
      hosts: ["local", "web1"],
      tunnel: {
        to: "127.0.0.1:22",
        ssh: true,
        sni: "ssh.example.net",
        path: "/t/9f2c1e4b",
        proxyProtocol: false,
        cert: "/tc.pem",
        key: "/tk.pem",
      },
    },
  },
  users: { alice: { secretEnv: "ALICE", sources: ["10.0.0.0/8"], factors: ["totp"] } },
  limits: {
    maxFailures: 5,
    failureWindow: "15m",
    lockout: "1m",
    maxLockout: "1h",
    lockoutMemory: "24h",
    scanner: { distinctPaths: 20, window: "10s", ban: "1h", trackedIps: 10000 },
  },
  admin: { listen: { host: "127.0.0.1", port: 9090 }, tokenEnv: "TOKEN" },
  tunnels: { maxPerIp: 8, maxTotal: 1024, idleTimeout: "10m", peekTimeout: "5s", peekBytes: 16389 },
});

const COMMAND_FIREWALL = {
  backend: "command",
  command: { open: ["/bin/true", "%IP%"], close: ["/bin/true", "%IP%"], stateFile: "/s.json" },
};

/** A valid rotating doors.*.sequence (base() uses the static form). */
const ROTATING = { rotate: "10m", steps: 2, keyFile: "/etc/webknock/k.seqkey" };

/** Record keys are walked through an entry that exists in `base()`. */
const RECORD_ENTRY: Readonly<Record<string, string>> = { doors: "ssh", users: "alice" };

/**
 * Bad values for rules that zod cannot describe (refinements and transforms), by key
 * path with `*` for a record entry. Every such rule in the schema must be listed here.
 */
const CUSTOM_BAD: Readonly<Record<string, readonly unknown[]>> = {
  "server.trustProxy": [true, 2, ["10.0.0.0/33"], ["constructor"]],
  server: [{ decoy: "upstream" }],
  "doors.*.sequence[]": [
    "/a/../b",
    "/a/./b",
    "//evil.example/b",
    "/\\evil.example/b",
    "a1",
    "/a?x=1",
    `/${"a".repeat(200)}`,
    7,
  ],
  "doors.*.sequence": ["/a1,/b2", null, 7],
  "doors.*.sequence.rotate": ["10x", 0],
  "doors.*.sequenceTimeout": ["30x", 0],
  "doors.*.challengeTimeout": ["1 minute"],
  "doors.*.openFor": ["-5s"],
  "doors.*.open[]": ["tcp/99999", "sctp/22"],
  "doors.*.sources": [["10.0.0.300"], ["private", "::g"]],
  "users.*": [{ secretEnv: "ALICE", secret: SECRET }, { sources: [] }],
  "users.*.sources": [["::g"]],
  "users.*.factors": [["totp", "totp"]],
  "server.rpId": ["10.0.0.1"],
  "firewall.sweepInterval": ["0s"],
  "firewall.command.open": [["%IP%", "/bin/true"], ["/bin/allow", "%HOST%"], [""]],
  "firewall.command.close": [["/bin/deny", "%SECONDS%"], ["%PROTO%"]],
  "limits.failureWindow": ["15 minutes"],
  "limits.lockout": ["1d"],
  "limits.maxLockout": ["forever"],
  "limits.lockoutMemory": [[]],
  "limits.scanner.window": ["10"],
  "limits.scanner.ban": ["ban"],
  admin: [{ tokenEnv: "TOKEN", tokenFile: "/t" }, {}],
  "store.redis": [
    "http://x",
    5,
    "redis:/x",
    { cluster: ["10.0.0.5:7000"], sentinels: ["10.0.0.5:26379"], name: "wk" },
    { cluster: ["10.0.0.5:7000"], db: 1 },
    { cluster: [] },
    { cluster: ["10.0.0.5"] },
    { cluster: "10.0.0.5:7000" },
    { nodes: ["10.0.0.5:7000"] },
  ],
  "store.keyPrefix": ["wk{", "{wk}:"],
  "store.replicaAck": [true, { replicas: 0 }, { timeout: "1s" }, { timeout: "soon" }, { wait: 1 }],
  "doors.*": [{ sequence: ["/a1"], open: [], users: ["alice"] }],
  "doors.*.tunnel": [
    { to: "127.0.0.1:22", sni: "a.example", cert: "/c.pem" },
    { to: "127.0.0.1:22", cert: "/c.pem", key: "/k.pem" },
  ],
  "doors.*.tunnel.to": ["127.0.0.1", "::1:22", "host:0", "h:70000", 22],
  "doors.*.tunnel.sni": ["bad_name.example", "-a.example", "a..b"],
  "doors.*.tunnel.path": ["t/1", "/a/../b"],
  "tunnels.idleTimeout": ["long"],
  "tunnels.peekTimeout": ["5 seconds"],
  "tunnels.revokeCheck": ["often"],
};

/** One rule of the schema, broken by setting `value` at the concrete `keys` of `base()`. */
interface Case {
  /** Key path with `*` for a record entry and `[]` for a list element, as in CUSTOM_BAD. */
  readonly pattern: string;
  readonly keys: readonly string[];
  readonly rule: string;
  readonly value: unknown;
  /** A discriminator to set first, for a rule inside one option of a union. */
  readonly requires?: { readonly keys: readonly string[]; readonly value: unknown };
}

type Def = Record<string, unknown> & { type: string };
const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;

/** Where a walk is: concrete keys into `base()` and the pattern naming the rule. */
interface At {
  readonly keys: readonly string[];
  readonly pattern: string;
  readonly requires?: Case["requires"];
}

const child = (at: At, key: string): At => ({
  ...at,
  keys: [
    ...at.keys,
    key === "[]" ? "0" : key === "*" ? (RECORD_ENTRY[at.keys.at(-1) ?? ""] ?? key) : key,
  ],
  pattern: key === "[]" ? `${at.pattern}[]` : at.pattern === "" ? key : `${at.pattern}.${key}`,
});

function get(root: unknown, keys: readonly string[]): unknown {
  let node = root;
  for (const key of keys) node = (node as Record<string, unknown> | undefined)?.[key];
  return node;
}

/** Builds a value that breaks one zod check of a string, number or array. */
function breakCheck(check: Record<string, unknown>, valid: unknown): unknown {
  const value = check.value as number;
  switch (check.check) {
    case "min_length":
      return Array.isArray(valid) ? [] : "a".repeat(Math.max(0, (check.minimum as number) - 1));
    case "max_length": {
      const max = check.maximum as number;
      return Array.isArray(valid) ? Array<unknown>(max + 1).fill(valid[0]) : "/".repeat(max + 1);
    }
    case "string_format":
      return "!not valid!";
    case "greater_than":
      return check.inclusive === true ? value - 1 : value;
    case "less_than":
      return check.inclusive === true ? value + 1 : value;
    case "number_format":
      return 2.5;
    default:
      throw new Error(`No bad value for zod check ${String(check.check)}: teach breakCheck`);
  }
}

/** Collects a case for every rule reachable from `schema`; `custom` gets refinement paths. */
function walk(schema: unknown, at: At, out: Case[], custom: Set<string>): void {
  const def = defOf(schema);
  const checks = ((def.checks ?? []) as { _zod: { def: Record<string, unknown> } }[]).map(
    (c) => c._zod.def,
  );
  const push = (rule: string, value: unknown, keys = at.keys) =>
    out.push({ pattern: at.pattern, keys, rule, value, requires: at.requires });
  for (const check of checks) {
    if (check.check === "custom") custom.add(at.pattern);
    else push(String(check.check), breakCheck(check, get(base(), at.keys)));
  }
  switch (def.type) {
    case "object":
      for (const [key, value] of Object.entries(def.shape as Record<string, unknown>))
        walk(value, child(at, key), out, custom);
      break;
    case "array":
      walk(def.element, child(at, "[]"), out, custom);
      break;
    case "record": {
      const entry = child(at, "*");
      out.push({
        pattern: `${at.pattern}.*`,
        keys: [...at.keys, "Bad Name!"],
        rule: "record key",
        value: get(base(), entry.keys),
      });
      walk(def.valueType, entry, out, custom);
      break;
    }
    case "enum":
      push("enum", "not-a-choice");
      break;
    case "transform":
      custom.add(at.pattern);
      // doors.*.sequence picks one of two forms in a transform, which hides their rules:
      // walk both, the rotating one set whole first (base() uses the static one).
      if (at.pattern === "doors.*.sequence") {
        walk(SEQUENCE_FORMS.static, at, out, custom);
        walk(
          SEQUENCE_FORMS.rotating,
          { ...at, requires: { keys: at.keys, value: ROTATING } },
          out,
          custom,
        );
      }
      break;
    case "optional":
    case "default":
    case "prefault":
    case "nullable":
      walk(def.innerType, at, out, custom);
      break;
    case "pipe":
      walk(def.in, at, out, custom);
      walk(def.out, at, out, custom);
      break;
    case "union": {
      const discriminator = def.discriminator as string | undefined;
      if (discriminator !== undefined) {
        out.push({
          pattern: `${at.pattern}.${discriminator}`,
          keys: [...at.keys, discriminator],
          rule: "discriminator",
          value: "not-a-choice",
        });
      }
      for (const option of def.options as unknown[]) {
        const shape = defOf(option).shape as Record<string, unknown> | undefined;
        const literal =
          discriminator === undefined || shape === undefined
            ? undefined
            : (defOf(shape[discriminator]).values as unknown[])[0];
        const requires =
          literal === undefined
            ? at.requires
            : { keys: [...at.keys, discriminator ?? ""], value: literal };
        walk(option, { ...at, requires }, out, custom);
      }
      break;
    }
    default:
      // Leaves whose checks were collected above. Any other zod construct is new here:
      // teach the walk about it rather than let its rules go unchecked.
      if (!LEAF_TYPES.has(def.type)) throw new Error(`Cannot walk zod type ${def.type}`);
  }
}

/** zod types with no children: their rules are the checks collected in `walk`. */
const LEAF_TYPES = new Set(["string", "number", "boolean", "unknown", "literal"]);

function setAt(root: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  const path = [...keys];
  const last = path.pop() ?? "";
  let node: Record<string, unknown> = root;
  for (const key of path) node = node[key] as Record<string, unknown>;
  node[last] = structuredClone(value);
}

function problemsFor(c: Pick<Case, "keys" | "value" | "requires">): string[] {
  const raw = base();
  if (c.keys[0] === "firewall" && c.keys[1] === "command")
    raw.firewall = structuredClone(COMMAND_FIREWALL);
  if (c.requires?.value === "command") raw.firewall = structuredClone(COMMAND_FIREWALL);
  if (c.requires !== undefined) setAt(raw, c.requires.keys, c.requires.value);
  setAt(raw, c.keys, c.value);
  try {
    resolveConfig(raw, {
      env: { ALICE: SECRET, TOKEN: "0123456789abcdef0123" },
      readFile: () => "",
    });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

const generated: Case[] = [];
const customPaths = new Set<string>();
walk(configSchema, { keys: [], pattern: "" }, generated, customPaths);
const concrete = (pattern: string): string[] =>
  pattern
    .split(/\.|(?=\[\])/)
    .reduce<At>((at, key) => child(at, key === "[]" ? "[]" : key), { keys: [], pattern: "" })
    .keys as string[];
const cases: Case[] = [
  ...generated,
  ...Object.entries(CUSTOM_BAD).flatMap(([pattern, values]) =>
    values.map((value) => ({
      pattern,
      keys: concrete(pattern),
      rule: "refinement",
      value,
      // A key of the rotating sequence exists only once the sequence is that form.
      ...(pattern.startsWith("doors.*.sequence.")
        ? { requires: { keys: concrete("doors.*.sequence"), value: ROTATING } }
        : {}),
    })),
  ),
];

/** zod's own wording, which names no fix. */
const ZOD_DEFAULT = /Invalid (input|option|string|key)|Too (big|small)|expected \w+, received/;

describe("every config rule names the key path, the value received and the fix", () => {
  it("finds the rules in the schema", () => {
    expect(generated.length).toBeGreaterThan(35);
    expect(
      generated.some((c) => c.rule === "discriminator" && c.pattern === "firewall.backend"),
    ).toBe(true);
  });

  it("has a bad value for every refinement and transform in the schema", () => {
    const missing = [...customPaths].filter((path) => !(path in CUSTOM_BAD));
    expect(missing).toEqual([]);
  });

  it.each(
    cases.map(
      (c) => [`${c.pattern} (${c.rule}) = ${JSON.stringify(c.value).slice(0, 40)}`, c] as const,
    ),
  )("%s", (_name, c) => {
    const problems = problemsFor(c);
    const key = c.keys
      .map((k) => (/^\d+$/.test(k) ? `[${k}]` : `.${k}`))
      .join("")
      .replace(/^\./, "");
    // A rule inside a value written whole (store.redis) may name a key within it.
    const mine = problems.filter((p) => /^[:[.]/.test(p.slice(key.length)) && p.startsWith(key));
    expect(mine, problems.join("\n")).not.toEqual([]);
    for (const problem of mine) {
      expect(problem).toMatch(/: (got .+; .{10,}|is required; .+)$/);
      expect(problem).not.toMatch(ZOD_DEFAULT);
    }
  });

  it("says the value and the fix for firewall.backend exactly", () => {
    expect(problemsFor({ keys: ["firewall", "backend"], value: "pfctl" })).toContain(
      'firewall.backend: got "pfctl"; choose one of iptables, ipset, nftables, command, log',
    );
  });

  it("never shows an inline secret", () => {
    const problems = problemsFor({ keys: ["users", "alice", "secret"], value: 12345 });
    expect(problems.join("\n")).toMatch(/users\.alice\.secret: got a number \(not shown\)/);
  });
});
