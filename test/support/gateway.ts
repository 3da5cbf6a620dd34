import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { generateSecret } from "otplib";
import { inject } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import type { GatewayConfig } from "../../src/config/types.js";
import { LogFirewall } from "../../src/firewall/log.js";
import type { FirewallRule } from "../../src/firewall/types.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger, type Logger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { redisBackend, type StoreBackend } from "../../src/store/backend.js";
import { createRedisClient } from "../../src/store/redis.js";
import type { KnockStore } from "../../src/store/types.js";

export const ALICE_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
export const BOB_SECRET = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
export const SEQUENCE = ["/img/a81f3c.png", "/p/2021/b7d2e4", "/s/c9e044.css"] as const;
export const LAST = SEQUENCE[2];

/** A test door config (trustProxy loopback, so tests can speak for other IPs via X-Forwarded-For). */
export function testConfig(overrides: Record<string, unknown> = {}): GatewayConfig {
  return resolveConfig(
    {
      server: { listen: [{ host: "127.0.0.1", port: 0 }], trustProxy: ["loopback"] },
      firewall: { backend: "log" },
      doors: {
        ssh: {
          sequence: [...SEQUENCE],
          sequenceTimeout: "20s",
          challengeTimeout: "60s",
          open: ["tcp/22", "udp/60001"],
          openFor: "30s",
          users: ["alice", "bob"],
        },
        web: { sequence: ["/w/1", "/w/2"], open: ["tcp/443"], users: ["alice"] },
        ...((overrides.doors as object | undefined) ?? {}),
      },
      users: { alice: { secret: ALICE_SECRET }, bob: { secret: BOB_SECRET } },
      ...Object.fromEntries(Object.entries(overrides).filter(([k]) => k !== "doors")),
    },
    { env: {}, readFile: () => "" },
  );
}

/** A LogFirewall that also counts calls, so tests can assert "exactly one open". */
export class RecordingFirewall extends LogFirewall {
  readonly opened: FirewallRule[] = [];
  readonly commands: string[][] = [];
  constructor() {
    const commands: string[][] = [];
    super((argv) => commands.push([...argv]));
    this.commands = commands;
  }
  override open(rule: FirewallRule): Promise<void> {
    this.opened.push(rule);
    return super.open(rule);
  }
}

/** A gateway on a real Redis (unique key prefix) or a MemoryStore, with a recording firewall. */
export interface TestGateway {
  readonly gateway: Gateway;
  readonly firewall: RecordingFirewall;
  readonly store: KnockStore;
  /** The Redis key prefix of this gateway's store (undefined on a MemoryStore). */
  readonly keyPrefix: string | undefined;
  close(): Promise<void>;
}

/**
 * Builds a gateway in process without starting its listeners (tests hand `gateway.handler`
 * to supertest or start it themselves). Redis by default, with a key prefix of its own
 * that is deleted on close; `store: "memory"` needs nothing.
 */
export async function startTestGateway(
  options: {
    config?: GatewayConfig;
    store?: "redis" | "memory";
    now?: () => number;
    log?: Logger;
  } = {},
): Promise<TestGateway> {
  const now = options.now ?? Date.now;
  let store: KnockStore;
  let backend: StoreBackend | undefined;
  let cleanup = (): Promise<void> => Promise.resolve();
  let keyPrefix: string | undefined;
  if (options.store === "memory") {
    store = new MemoryStore(now);
  } else {
    const client = createRedisClient(inject("redisUrl"));
    const prefix = `test:${randomUUID()}:`;
    keyPrefix = prefix;
    backend = redisBackend(client, prefix, { log: options.log ?? silentLogger(), now });
    await backend.connect();
    store = backend.store;
    cleanup = async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
    };
  }
  const { gateway, firewall } = buildGateway(options.config ?? testConfig(), store, {
    now,
    log: options.log,
    backend,
  });
  return {
    gateway,
    firewall,
    store,
    keyPrefix,
    close: async () => {
      await cleanup();
      await gateway.stop();
    },
  };
}

/** The one place a test gateway is assembled: the given store and a recording firewall. */
function buildGateway(
  config: GatewayConfig,
  store: KnockStore,
  options: { now: () => number; log: Logger | undefined; backend?: StoreBackend | undefined },
): { gateway: Gateway; firewall: RecordingFirewall } {
  const firewall = new RecordingFirewall();
  const gateway = createGateway(config, {
    log: options.log ?? silentLogger(),
    now: options.now,
    ...(options.backend ? { backend: options.backend } : { store }),
    firewall,
  });
  return { gateway, firewall };
}

/** The door every UX test (browser, CLI, admin) knocks on. */
export const TEST_SEQUENCE = ["/static/a1.png", "/b2/x", "/knock/c3"] as const;
/** The UX tests' door name. */
export const TEST_DOOR = "ssh";
/** The admin API token of `startListeningGateway({ admin: true })`. */
export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

/** A gateway running in process on 127.0.0.1 with ephemeral ports. */
export interface ListeningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly adminUrl: string | undefined;
  readonly firewall: RecordingFirewall;
  readonly store: KnockStore;
  readonly config: GatewayConfig;
  /** User name to base32 secret. */
  readonly secrets: ReadonlyMap<string, string>;
  stop(): Promise<void>;
}

/** Options for `startListeningGateway`. */
export interface ListeningGatewayOptions {
  /** User names; each gets a fresh secret. Distinct users avoid TOTP replay between tests. */
  readonly users?: readonly string[];
  /** Users whose secret comes from a file (enrollment tests): name to path. */
  readonly secretFiles?: Readonly<Record<string, string>>;
  readonly admin?: boolean;
  /** A MemoryStore by default: these tests need no Redis. */
  readonly store?: KnockStore;
  readonly openFor?: string;
  readonly host?: string;
  /** Serve HTTPS with this certificate and key (PEM file paths). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Where the gateway logs; silent by default. */
  readonly log?: Logger;
}

/**
 * Starts a gateway with listeners, configured like `demoConfig()` (one door, fresh
 * secrets), on ephemeral ports: for tests that talk to it as a client would.
 */
export async function startListeningGateway(
  options: ListeningGatewayOptions = {},
): Promise<ListeningGateway> {
  const secrets = new Map<string, string>();
  const users: Record<string, Record<string, string>> = {};
  for (const name of options.users ?? ["alice"]) {
    const secret = generateSecret();
    secrets.set(name, secret);
    users[name] = { secret };
  }
  for (const [name, path] of Object.entries(options.secretFiles ?? {})) {
    users[name] = { secretFile: path };
  }
  const host = options.host ?? "127.0.0.1";
  const resolved = resolveConfig(
    {
      // Ports are placeholders (the schema wants 1-65535); both become 0 below.
      server: { listen: [{ host, port: 8080, ...(options.tls ? { tls: options.tls } : {}) }] },
      firewall: { backend: "log" },
      doors: {
        [TEST_DOOR]: {
          sequence: [...TEST_SEQUENCE],
          sequenceTimeout: "30s",
          challengeTimeout: "60s",
          open: ["tcp/22", "udp/51820"],
          openFor: options.openFor ?? "60s",
          users: Object.keys(users),
        },
      },
      users,
      ...(options.admin === true ? { admin: { tokenEnv: "WK_TEST_ADMIN_TOKEN" } } : {}),
    },
    {
      env: { WK_TEST_ADMIN_TOKEN: ADMIN_TOKEN },
      readFile: (path) => readFileSync(path, "utf8"),
    },
    "the test config",
  );
  const config = onEphemeralPorts(resolved);
  const store = options.store ?? new MemoryStore();
  const { gateway, firewall } = buildGateway(config, store, { now: Date.now, log: options.log });
  const [url] = await gateway.start();
  if (url === undefined) throw new Error("the test gateway has no listener");
  return {
    gateway,
    url,
    adminUrl: gateway.adminUrl,
    firewall,
    store,
    config,
    secrets,
    stop: () => gateway.stop(),
  };
}

/**
 * `config` with every listener, and the admin API if any, on a port the kernel picks, so
 * tests never collide; `gateway.start()` answers with the URLs actually bound.
 */
export function onEphemeralPorts(config: GatewayConfig): GatewayConfig {
  return {
    ...config,
    server: { ...config.server, listen: config.server.listen.map((l) => ({ ...l, port: 0 })) },
    ...(config.admin === undefined
      ? {}
      : { admin: { ...config.admin, listen: { host: "127.0.0.1", port: 0 } } }),
  };
}
