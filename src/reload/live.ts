import type { RequestListener } from "node:http";
import type { GatewayConfig, PortSpec } from "../config/types.js";
import { ConfigError } from "../errors.js";
import type { FirewallAdapter } from "../firewall/types.js";
import type { KnockEngine } from "../knock/engine.js";
import type { TlsContext } from "../net/tls-context.js";
import { describeChanges, restartOnlyChanges } from "./diff.js";
import { buildGeneration, type Generation, type SharedParts } from "./generation.js";

/** What a reload did: applied (with what changed), or refused with every problem. */
export type ReloadOutcome =
  | {
      readonly ok: true;
      /** Short phrases: `doors added: api`, `users changed: bob`... */
      readonly changes: readonly string[];
      /** What was applied but went wrong after (a removed door's grant that would not close). */
      readonly warnings: readonly string[];
    }
  | {
      readonly ok: false;
      /** One sentence per problem, naming the key and the fix (config/issues.ts wording). */
      readonly problems: readonly string[];
    };

/** What a live gateway needs beyond the shared parts. */
export interface LiveDeps {
  readonly shared: SharedParts;
  /** Keeps the base ruleset's protected ports in line with the doors. */
  readonly firewall: FirewallAdapter;
  /** Re-reads and validates the config file (throws ConfigError); absent when there is no file. */
  readonly load?: () => GatewayConfig;
  /** Each listener's TLS context by index in `server.listen` (undefined for plain HTTP or before start). */
  readonly tls: () => readonly (TlsContext | undefined)[];
}

/**
 * The gateway's current generation (config, engine, edge) behind one reference: the
 * listeners' handler delegates to it, so a reload is one assignment between two
 * requests and a request in flight finishes on the generation it started on.
 */
export class LiveGateway {
  private current: Generation;
  private queue: Promise<unknown> = Promise.resolve();

  /** The listeners' handler: the current generation's edge. */
  readonly handler: RequestListener = (req, res) => {
    this.current.handler(req, res);
  };

  constructor(
    config: GatewayConfig,
    private readonly deps: LiveDeps,
  ) {
    this.current = buildGeneration(config, deps.shared);
  }

  /** The config in force. */
  get config(): GatewayConfig {
    return this.current.config;
  }

  /** The engine in force. */
  get engine(): KnockEngine {
    return this.current.engine;
  }

  /** Re-reads the config, secrets and certificates and applies them; one reload at a time. */
  reload(): Promise<ReloadOutcome> {
    const run = this.queue.then(() => this.apply());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async apply(): Promise<ReloadOutcome> {
    const { log } = this.deps.shared;
    const outcome = await this.tryApply().catch((error: unknown) => ({
      ok: false as const,
      problems: [`the reload failed: ${(error as Error).message}; the old config stays in force`],
    }));
    if (!outcome.ok) {
      // One line per problem, so each can be grepped and fixed on its own.
      for (const problem of outcome.problems) {
        log.error(
          { event: "reload-refused", problem },
          `reload refused, old config kept: ${problem}`,
        );
      }
    }
    return outcome;
  }

  private async tryApply(): Promise<ReloadOutcome> {
    const { load } = this.deps;
    if (load === undefined) {
      return refused([
        "this gateway's config was built in code, not read from a file (webknock demo); restart it to change anything",
      ]);
    }
    let next: GatewayConfig;
    try {
      next = load();
    } catch (error) {
      if (error instanceof ConfigError) return refused([...error.problems]);
      throw error;
    }
    const old = this.current.config;
    const problems = restartOnlyChanges(old, next);
    // Certificates are re-read on every reload; a pair that does not load refuses it all.
    const applyTls: (() => void)[] = [];
    const contexts = this.deps.tls();
    next.server.listen.forEach((listen, i) => {
      const context = contexts[i];
      if (listen.tls === undefined || context === undefined) return;
      const prepared = context.prepare(listen.tls);
      if (typeof prepared === "string") problems.push(prepared);
      else applyTls.push(prepared);
    });
    if (problems.length > 0) return refused(problems);

    const generation = buildGeneration(next, this.deps.shared, this.current);
    const ports = protectedPorts(next);
    if (portsKey(ports) !== portsKey(protectedPorts(old))) {
      // New doors' ports are closed before the door exists, so nothing is open in between.
      try {
        await this.deps.firewall.init(ports);
      } catch (error) {
        return refused([
          `doors.*.open: the firewall refused the new protected ports (${(error as Error).message}); fix the firewall and reload again`,
        ]);
      }
    }
    this.current = generation;
    for (const apply of applyTls) apply();
    const changes = describeChanges(old, next);
    const { log } = this.deps.shared;
    const warnings = await this.closeRemovedDoors(old, next);
    log.info({ event: "reloaded", changes, warnings }, "config reloaded");
    return { ok: true, changes, warnings };
  }

  /** Revokes every live grant of a door the new config no longer has (firewall, store and fleet). */
  private async closeRemovedDoors(old: GatewayConfig, next: GatewayConfig): Promise<string[]> {
    const kept = new Set(next.doors.map((door) => door.name));
    const removed = new Set(old.doors.map((door) => door.name).filter((name) => !kept.has(name)));
    if (removed.size === 0) return [];
    const { store, grants, log } = this.deps.shared;
    const warnings: string[] = [];
    try {
      for (const grant of await store.listGrants()) {
        if (!removed.has(grant.door)) continue;
        await grants.revoke(grant.door, grant.ip).catch((error: unknown) => {
          warnings.push(
            `the grant of ${grant.ip} on removed door ${grant.door} could not be closed now (${(error as Error).message}); it closes at its expiry`,
          );
        });
      }
    } catch (error) {
      warnings.push(
        `the grants of removed door(s) ${[...removed].join(", ")} could not be listed (${(error as Error).message}); they close at their expiry`,
      );
    }
    for (const warning of warnings) log.warn({ event: "reload-warning", warning }, warning);
    return warnings;
  }
}

const refused = (problems: string[]): ReloadOutcome => ({ ok: false, problems });

/** The ports the base ruleset closes: every door's, as the gateway's start installs them. */
const protectedPorts = (config: GatewayConfig): PortSpec[] =>
  config.doors.flatMap((door) => door.open);

const portsKey = (ports: readonly PortSpec[]): string =>
  [...new Set(ports.map((p) => `${p.proto}/${p.port}`))].sort().join(",");
