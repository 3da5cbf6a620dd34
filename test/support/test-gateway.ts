import { readFileSync } from "node:fs";
import { generateSecret } from "otplib";
import { resolveConfig } from "../../src/config/load.js";
import type { GatewayConfig } from "../../src/config/types.js";
import { LogFirewall } from "../../src/firewall/log.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger, type Logger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { KnockStore } from "../../src/store/types.js";

/** The door every UX test knocks on. */
export const TEST_SEQUENCE = ["/static/a1.png", "/b2/x", "/knock/c3"] as const;
export const TEST_DOOR = "ssh";
export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";

/** A gateway running in-process on 127.0.0.1 with ephemeral ports. */
export interface TestGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly adminUrl: string | undefined;
  readonly firewall: LogFirewall;
  readonly store: KnockStore;
  readonly config: GatewayConfig;
  /** User name to base32 secret. */
  readonly secrets: ReadonlyMap<string, string>;
  stop(): Promise<void>;
}

/** Options for `startTestGateway`. */
export interface TestGatewayOptions {
  /** User names; each gets a fresh secret. Distinct users avoid TOTP replay between tests. */
  readonly users?: readonly string[];
  /** Users whose secret comes from a file (enrollment tests): name to path. */
  readonly secretFiles?: Readonly<Record<string, string>>;
  readonly admin?: boolean;
  readonly store?: KnockStore;
  readonly openFor?: string;
  readonly host?: string;
  /** Serve HTTPS with this certificate and key (PEM file paths). */
  readonly tls?: { readonly cert: string; readonly key: string };
  /** Where the gateway logs; silent by default. */
  readonly log?: Logger;
}

/** Builds a config like `demoConfig()` does, then moves the listeners to port 0. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
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
  const config: GatewayConfig = {
    ...resolved,
    server: {
      ...resolved.server,
      listen: resolved.server.listen.map((listen) => ({ ...listen, port: 0 })),
    },
    admin: resolved.admin && { ...resolved.admin, listen: { host: "127.0.0.1", port: 0 } },
  };
  const firewall = new LogFirewall(() => undefined);
  const store = options.store ?? new MemoryStore();
  const gateway = createGateway(config, {
    log: options.log ?? silentLogger(),
    now: Date.now,
    store,
    firewall,
  });
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
