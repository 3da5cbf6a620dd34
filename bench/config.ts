import { createHash } from "node:crypto";
import { resolveConfig } from "../src/config/load.js";
import type { FirewallBackend, GatewayConfig } from "../src/config/types.js";

/** The benchmark door's sequence; step 0 is the knock-step workload. */
export const BENCH_SEQUENCE = ["/b/alpha.png", "/b/bravo", "/b/knock"] as const;
export const BENCH_DOOR = "bench";
export const BENCH_PORT = { proto: "tcp", port: 2222 } as const;

/** Sizes and durations of one run; quick mode is for CI (< 60 s), full mode for RESULTS.md. */
export interface BenchParams {
  readonly quick: boolean;
  /** Seconds per autocannon run, and alternated rounds per server. */
  readonly loadSeconds: number;
  readonly rounds: number;
  readonly connections: number;
  /** Full knocks timed per backend (item 3) and per phase (item 5). */
  readonly knocks: number;
  readonly floodKnocks: number;
  /** Live-grant levels and timed opens per level (item 4); pre-population time cap per backend. */
  readonly grantLevels: readonly number[];
  readonly grantOpens: number;
  readonly populateCapMs: number;
  /** Progress keys written for the Redis memory figure; clients tracked for the RSS figure. */
  readonly redisKeys: number;
  readonly rssClients: number;
  /** Item 8: grants timed to three agents' kernels; live grants at an agent's restart. */
  readonly fleetGrants: number;
  readonly fleetResyncGrants: number;
  /** Item 8: the stream's retention (scaled down from the hour) and the steady grant rate per second. */
  readonly fleetRetentionMs: number;
  readonly fleetRate: number;
  /** Bytes per bulk upload through the tunnel, and 200-round-trip blocks per path (item 9). */
  readonly tunnelBytes: number;
  readonly tunnelBlocks: number;
}

/** Parameters for the quick (CI) or full run. */
export function benchParams(quick: boolean): BenchParams {
  return quick
    ? {
        quick,
        loadSeconds: 1,
        rounds: 1,
        connections: 50,
        knocks: 20,
        floodKnocks: 10,
        grantLevels: [10, 100, 300],
        grantOpens: 10,
        populateCapMs: 8_000,
        redisKeys: 2_000,
        rssClients: 10_000,
        fleetGrants: 10,
        fleetResyncGrants: 1_000,
        fleetRetentionMs: 500,
        fleetRate: 200,
        tunnelBytes: 8 * 1024 * 1024,
        tunnelBlocks: 1,
      }
    : {
        quick,
        loadSeconds: 4,
        rounds: 5,
        connections: 50,
        knocks: 200,
        floodKnocks: 50,
        grantLevels: [10, 1_000, 10_000],
        grantOpens: 100,
        populateCapMs: 240_000,
        redisKeys: 20_000,
        rssClients: 100_000,
        fleetGrants: 200,
        fleetResyncGrants: 10_000,
        fleetRetentionMs: 3_000,
        fleetRate: 500,
        tunnelBytes: 256 * 1024 * 1024,
        tunnelBlocks: 20,
      };
}

/** Number of distinct users in the bench config: each full knock uses a fresh one (TOTP replay). */
export const BENCH_USERS = 1_000;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** A deterministic 160-bit base32 secret for user `i`, so child processes agree on it. */
export function userSecret(i: number): string {
  const bytes = createHash("sha256").update(`webknock-bench-${i}`).digest().subarray(0, 20);
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31] ?? "";
      bits -= 5;
    }
  }
  return out;
}

export const userName = (i: number): string => `u${i}`;

/** Options of a bench gateway config. */
export interface BenchConfigOptions {
  readonly redisUrl?: string;
  readonly keyPrefix?: string;
  readonly backend?: FirewallBackend;
  /** Trust X-Forwarded-For from loopback, so one loopback client can knock as many IPs. */
  readonly trustLoopback?: boolean;
  readonly port?: number;
  /** Answer non-knock requests by proxying to this site (`decoy: upstream`). */
  readonly upstream?: string;
  /** Give the door a tunnel to this `host:port`, plain SSH routed to it (issue 12). */
  readonly tunnelTo?: string;
  /**
   * With `tunnelTo`: a TLS listener on this port with this certificate, and the door's
   * other two routes (TLS with BENCH_SNI, WebSocket on BENCH_TUNNEL_PATH).
   */
  readonly tunnelTls?: { readonly port: number; readonly cert: string; readonly key: string };
}

/** The SNI and WebSocket path of the bench door's tunnel (with `tunnelTls`). */
export const BENCH_SNI = "ssh.bench.example.net";
export const BENCH_TUNNEL_PATH = "/t/bench";

/** A validated config: one door, BENCH_USERS users, loopback listener on an ephemeral port. */
export function benchConfig(options: BenchConfigOptions = {}): GatewayConfig {
  const users: Record<string, { secret: string }> = {};
  for (let i = 0; i < BENCH_USERS; i++) users[userName(i)] = { secret: userSecret(i) };
  const tls = options.tunnelTls;
  return resolveConfig(
    {
      server: {
        listen: [
          { host: "127.0.0.1", port: options.port ?? 8080 },
          ...(tls === undefined
            ? []
            : [{ host: "127.0.0.1", port: tls.port, tls: { cert: tls.cert, key: tls.key } }]),
        ],
        trustProxy: options.trustLoopback === true ? ["loopback"] : [],
        ...(options.upstream === undefined
          ? {}
          : { decoy: "upstream", upstream: options.upstream }),
      },
      store: {
        ...(options.redisUrl === undefined ? {} : { redis: options.redisUrl }),
        keyPrefix: options.keyPrefix ?? "wkb:",
      },
      firewall: { backend: options.backend ?? "log", chain: "WKBENCH", table: "wkbench" },
      doors: {
        [BENCH_DOOR]: {
          sequence: [...BENCH_SEQUENCE],
          sequenceTimeout: "30s",
          challengeTimeout: "60s",
          open: [`${BENCH_PORT.proto}/${BENCH_PORT.port}`],
          openFor: "10m",
          users: Object.keys(users),
          ...(options.tunnelTo === undefined
            ? {}
            : {
                tunnel: {
                  to: options.tunnelTo,
                  ssh: true,
                  ...(tls === undefined ? {} : { sni: BENCH_SNI, path: BENCH_TUNNEL_PATH }),
                },
              }),
        },
      },
      users,
    },
    { env: {}, readFile: () => "" },
    "the benchmark config",
  );
}
