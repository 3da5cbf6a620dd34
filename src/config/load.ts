import { ConfigError } from "../errors.js";
import { readAdmin } from "./admin.js";
import { describeIssue } from "./issues.js";
import { uniquePorts } from "./ports.js";
import { configSchema, type RawConfig } from "./schema.js";
import { malformedSecret, normalizeBase32, weakSecret } from "./secret.js";
import { defaultSources, readPrivateFile, type ConfigSources } from "./sources.js";
import type { DoorConfig, FirewallConfig, GatewayConfig, UserConfig } from "./types.js";
import { parseYaml } from "./yaml.js";
import { checkTunnels, tunnelConfig, tunnelLimits } from "./tunnel-check.js";
import { checkDistinctKeys, resolveRotation } from "../sequence/config.js";

export type { ConfigSources } from "./sources.js";

/** How a config is resolved beyond its text. */
export interface ResolveOptions {
  /** Only `webknock demo` may run on the public demo secret. */
  readonly allowDemoSecret?: boolean;
}

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
  const parsed = parseYaml(text);
  if (!parsed.ok) {
    throw new ConfigError(`Config file ${path} is not valid YAML: ${parsed.problem}`);
  }
  return resolveConfig(parsed.value, sources, path);
}

/** Validates an already-parsed config object (the demo and tests build these in code). */
export function resolveConfig(
  raw: unknown,
  sources: ConfigSources = defaultSources,
  origin = "config",
  options: ResolveOptions = {},
): GatewayConfig {
  const parsed = configSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) throw problemsError(origin, parsed.error.issues.map(describeIssue));
  const problems: string[] = [];
  const config = build(parsed.data, sources, problems, options);
  if (problems.length > 0) throw problemsError(origin, problems);
  return config;
}

function build(
  data: RawConfig,
  sources: ConfigSources,
  problems: string[],
  options: ResolveOptions,
): GatewayConfig {
  const users = new Map<string, UserConfig>();
  for (const [name, user] of Object.entries(data.users)) {
    const secret = readSecret(name, user, sources, problems, options.allowDemoSecret === true);
    if (secret !== undefined) users.set(name, { name, secret, sources: user.sources });
  }
  const owners = new Map<string, string>();
  const doors: DoorConfig[] = [];
  for (const [name, door] of Object.entries(data.doors)) {
    const rotation = Array.isArray(door.sequence)
      ? undefined
      : resolveRotation(
          name,
          door.sequence,
          { sequenceTimeoutMs: door.sequenceTimeout, challengeTimeoutMs: door.challengeTimeout },
          sources,
          problems,
        );
    const sequence = Array.isArray(door.sequence) ? door.sequence : [];
    sequence.forEach((path, index) => {
      const owner = owners.get(path);
      if (owner !== undefined) {
        problems.push(
          `doors.${name}.sequence[${index}]: ${JSON.stringify(path)} is already a step of ${owner}; every knock path must be used once, so a step can never be mistaken for another`,
        );
      }
      owners.set(path, `doors.${name}`);
    });
    door.users.forEach((user, index) => {
      // Own keys only: `constructor` or `toString` must not find Object.prototype.
      if (!Object.hasOwn(data.users, user)) {
        problems.push(
          `doors.${name}.users[${index}]: user ${JSON.stringify(user)} is not defined; add it under users: or remove it here`,
        );
      }
    });
    const open = uniquePorts(door.open);
    if (door.hosts !== undefined && data.store.redis === undefined) {
      const remote = door.hosts.filter((host) => host !== "local");
      if (remote.length > 0) {
        problems.push(
          `doors.${name}.hosts: ${JSON.stringify(remote)} are agents' hosts, which get their grants through Redis; set store.redis or name only [local]`,
        );
      }
    }
    doors.push({
      name,
      sequence,
      steps: Array.isArray(door.sequence) ? door.sequence.length : door.sequence.steps,
      ...(rotation === undefined ? {} : { rotation }),
      sequenceTimeoutMs: door.sequenceTimeout,
      challengeTimeoutMs: door.challengeTimeout,
      open,
      openForMs: door.openFor,
      users: door.users,
      sources: door.sources,
      ...(door.hosts === undefined ? {} : { hosts: [...new Set(door.hosts)] }),
      ...(door.tunnel === undefined ? {} : { tunnel: tunnelConfig(door.tunnel) }),
    });
  }
  checkDistinctKeys(doors, problems);
  checkTunnels(doors, data.server.listen, problems);
  const { limits } = data;
  if (limits.maxLockout < limits.lockout) {
    problems.push(
      `limits.maxLockout: ${limits.maxLockout} ms is shorter than limits.lockout (${limits.lockout} ms); make it at least as long`,
    );
  }
  return {
    server: {
      listen: data.server.listen,
      trustProxy: data.server.trustProxy,
      decoy: data.server.decoy,
      ...(data.server.upstream === undefined ? {} : { upstream: data.server.upstream }),
    },
    store: { redis: data.store.redis, keyPrefix: data.store.keyPrefix },
    firewall: firewallConfig(data.firewall),
    doors,
    users,
    limits: {
      maxFailures: limits.maxFailures,
      failureWindowMs: limits.failureWindow,
      // Lockouts are kept in whole seconds (the rate limiter's unit), never below one.
      lockoutMs: Math.max(1000, Math.ceil(limits.lockout / 1000) * 1000),
      maxLockoutMs: Math.max(1000, Math.ceil(limits.maxLockout / 1000) * 1000),
      lockoutMemoryMs: limits.lockoutMemory,
      ipv4Prefix: limits.ipv4Prefix,
      ipv6Prefix: limits.ipv6Prefix,
      scanner: {
        distinctPaths: limits.scanner.distinctPaths,
        windowMs: limits.scanner.window,
        banMs: limits.scanner.ban,
        trackedIps: limits.scanner.trackedIps,
      },
    },
    admin: readAdmin(data.admin, sources, problems),
    tunnels: tunnelLimits(data.tunnels),
  };
}

/** The resolved firewall section: the same union, durations in milliseconds. */
export function firewallConfig(raw: RawConfig["firewall"]): FirewallConfig {
  const common = { chain: raw.chain, table: raw.table, sweepIntervalMs: raw.sweepInterval };
  return raw.backend === "command"
    ? { ...common, backend: raw.backend, command: raw.command }
    : { ...common, backend: raw.backend };
}

function readSecret(
  name: string,
  user: RawConfig["users"][string],
  sources: ConfigSources,
  problems: string[],
  allowDemo: boolean,
): string | undefined {
  let text: string | undefined;
  let key: string;
  if (user.secretFile !== undefined) {
    key = `users.${name}.secretFile`;
    text = readPrivateFile(
      key,
      user.secretFile,
      sources,
      problems,
      `create it with 'webknock user add ${name}' or fix the path`,
    );
    if (text === undefined) return undefined;
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
  const secret = normalizeBase32(text ?? "");
  // The value is a secret: say what is wrong with it, never echo it.
  const problem = malformedSecret(secret) ?? weakSecret(secret, allowDemo);
  if (problem !== undefined) {
    problems.push(`${key}: ${problem}; generate one with 'webknock user add ${name}'`);
    return undefined;
  }
  return secret;
}

/** One ConfigError listing every problem found in `origin`. */
export function problemsError(origin: string, problems: string[]): ConfigError {
  return new ConfigError(
    `Invalid configuration in ${origin}:\n  - ${problems.join("\n  - ")}`,
    problems,
  );
}
