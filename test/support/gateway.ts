import { randomUUID } from "node:crypto";
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
  close(): Promise<void>;
}

export async function startTestGateway(
  options: {
    config?: GatewayConfig;
    store?: "redis" | "memory";
    now?: () => number;
    log?: Logger;
  } = {},
): Promise<TestGateway> {
  const config = options.config ?? testConfig();
  const now = options.now ?? Date.now;
  let store: KnockStore;
  let backend: StoreBackend | undefined;
  let cleanup = (): Promise<void> => Promise.resolve();
  if (options.store === "memory") {
    store = new MemoryStore(now);
  } else {
    const client = createRedisClient(inject("redisUrl"));
    const prefix = `test:${randomUUID()}:`;
    backend = redisBackend(client, prefix, { log: options.log ?? silentLogger(), now });
    await backend.connect();
    store = backend.store;
    cleanup = async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
    };
  }
  const firewall = new RecordingFirewall();
  const gateway = createGateway(config, {
    log: options.log ?? silentLogger(),
    now,
    ...(backend ? { backend } : { store }),
    firewall,
  });
  return {
    gateway,
    firewall,
    store,
    close: async () => {
      await cleanup();
      await gateway.stop();
    },
  };
}
