import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../errors.js";
import { BASE32, configSchema, MIN_SECRET_CHARS, type RawConfig } from "./schema.js";
import { readAdmin } from "./admin.js";
import { uniquePorts } from "./ports.js";
import type { DoorConfig, GatewayConfig, UserConfig } from "./types.js";

/** What loading needs from the outside world, injectable for tests. */
export interface ConfigSources {
  readonly env: NodeJS.ProcessEnv;
  readonly readFile: (path: string) => string;
}

const defaultSources: ConfigSources = {
  env: process.env,
  readFile: (path) => readFileSync(path, "utf8"),
};

/** Reads, parses and validates a YAML config file; throws ConfigError naming every problem. */
export function loadConfigFile(
  path: string,
  sources: ConfigSources = defaultSources,
): GatewayConfig {
  let text: string;
  try {
    text = sources.readFile(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read config file ${path}: ${(error as Error).message}. Pass -c FILE or set WEBKNOCK_CONFIG.`,
    );
  }
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    const problems = document.errors.map((e) => `${path}: ${e.message}`);
    throw new ConfigError(
      `Config file ${path} is not valid YAML:\n  ${problems.join("\n  ")}`,
      problems,
    );
  }
  return resolveConfig(document.toJS() as unknown, sources, path);
}

/** Validates an already-parsed config object (the demo and tests build these in code). */
export function resolveConfig(
  raw: unknown,
  sources: ConfigSources = defaultSources,
  origin = "config",
): GatewayConfig {
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) throw problemsError(origin, parsed.error.issues.map(describeIssue));
  const problems: string[] = [];
  const config = build(parsed.data, sources, problems);
  if (problems.length > 0) throw problemsError(origin, problems);
  return config;
}

function build(data: RawConfig, sources: ConfigSources, problems: string[]): GatewayConfig {
  const users = new Map<string, UserConfig>();
  for (const [name, user] of Object.entries(data.users)) {
    const secret = readSecret(name, user, sources, problems);
    if (secret !== undefined) users.set(name, { name, secret, sources: user.sources });
  }
  const owners = new Map<string, string>();
  const doors: DoorConfig[] = [];
  for (const [name, door] of Object.entries(data.doors)) {
    door.sequence.forEach((path, index) => {
      const owner = owners.get(path);
      if (owner !== undefined) {
        problems.push(
          `doors.${name}.sequence[${index}]: ${JSON.stringify(path)} is already a step of ${owner}; every knock path must be used once, so a step can never be mistaken for another`,
        );
      }
      owners.set(path, `doors.${name}`);
    });
    door.users.forEach((user, index) => {
      if (!(user in data.users)) {
        problems.push(
          `doors.${name}.users[${index}]: user ${JSON.stringify(user)} is not defined; add it under users: or remove it here`,
        );
      }
    });
    const open = uniquePorts(door.open);
    doors.push({
      name,
      sequence: door.sequence,
      sequenceTimeoutMs: door.sequenceTimeout,
      challengeTimeoutMs: door.challengeTimeout,
      open,
      openForMs: door.openFor,
      users: door.users,
      sources: door.sources,
    });
  }
  if (data.firewall.backend === "command" && data.firewall.command === undefined) {
    problems.push(
      'firewall.command: the command backend needs open and close argv templates, such as open: [/usr/local/sbin/allow, "%IP%", "%PROTO%", "%PORT%", "%SECONDS%"]',
    );
  }
  const { limits } = data;
  if (limits.maxLockout < limits.lockout) {
    problems.push(
      `limits.maxLockout: ${limits.maxLockout} ms is shorter than limits.lockout (${limits.lockout} ms); make it at least as long`,
    );
  }
  return {
    server: { listen: data.server.listen, trustProxy: data.server.trustProxy },
    store: { redis: data.store.redis, keyPrefix: data.store.keyPrefix },
    firewall: {
      backend: data.firewall.backend,
      chain: data.firewall.chain,
      table: data.firewall.table,
      command: data.firewall.command,
      sweepIntervalMs: data.firewall.sweepInterval,
    },
    doors,
    users,
    limits: {
      maxFailures: limits.maxFailures,
      failureWindowMs: limits.failureWindow,
      // Lockouts are kept in whole seconds (the rate limiter's unit), never below one.
      lockoutMs: Math.max(1000, Math.ceil(limits.lockout / 1000) * 1000),
      maxLockoutMs: Math.max(1000, Math.ceil(limits.maxLockout / 1000) * 1000),
      lockoutMemoryMs: limits.lockoutMemory,
      scanner: {
        distinctPaths: limits.scanner.distinctPaths,
        windowMs: limits.scanner.window,
        banMs: limits.scanner.ban,
        trackedIps: limits.scanner.trackedIps,
      },
    },
    admin: readAdmin(data.admin, sources, problems),
  };
}

function readSecret(
  name: string,
  user: RawConfig["users"][string],
  sources: ConfigSources,
  problems: string[],
): string | undefined {
  let text: string | undefined;
  let key: string;
  if (user.secretFile !== undefined) {
    key = `users.${name}.secretFile`;
    try {
      text = sources.readFile(user.secretFile);
    } catch (error) {
      problems.push(
        `${key}: cannot read ${user.secretFile} (${(error as NodeJS.ErrnoException).code ?? "error"}); create it with 'webknock user add ${name}' or fix the path`,
      );
      return undefined;
    }
  } else if (user.secretEnv !== undefined) {
    key = `users.${name}.secretEnv`;
    text = sources.env[user.secretEnv];
    if (text === undefined) {
      problems.push(
        `${key}: environment variable ${user.secretEnv} is not set; export it before starting`,
      );
      return undefined;
    }
  } else {
    key = `users.${name}.secret`;
    text = user.secret;
  }
  const secret = (text ?? "").replace(/\s+/g, "").toUpperCase().replace(/=+$/, "");
  if (!BASE32.test(secret) || secret.length < MIN_SECRET_CHARS) {
    // The value is a secret: say what is wrong with it, never echo it.
    problems.push(
      `${key}: the secret must be base32 (A-Z, 2-7) of at least ${MIN_SECRET_CHARS} characters (128 bits); got ${secret.length} characters${BASE32.test(secret) || secret === "" ? "" : " with characters outside base32"}. Generate one with 'webknock user add ${name}'`,
    );
    return undefined;
  }
  return secret;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  const key = path.replace(/^\./, "") || "(top level)";
  if (issue.code === "unrecognized_keys") {
    return `${key}: unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}; check the spelling against config/webknock.example.yaml`;
  }
  if (issue.code === "invalid_type" && issue.input === undefined) {
    return `${key}: is required; see config/webknock.example.yaml`;
  }
  return `${key}: ${issue.message}`;
}

function problemsError(origin: string, problems: string[]): ConfigError {
  return new ConfigError(
    `Invalid configuration in ${origin}:\n  - ${problems.join("\n  - ")}`,
    problems,
  );
}
