import type { RedisTarget } from "../config/types.js";
import { createRedisClient } from "../store/redis.js";
import type { RedisProbe } from "./types.js";

/**
 * A RedisProbe on ioredis: one connection, no reconnects (the doctor asks once), commands
 * given 2 s. Unreachable Redis rejects `ping` instead of hanging the report.
 */
export function ioredisProbe(target: RedisTarget): RedisProbe {
  const client = createRedisClient(target, {
    lazyConnect: true,
    enableOfflineQueue: true,
    commandTimeout: 2000,
    retryStrategy: () => null,
    // Through Sentinel too: ask the sentinels once, never again.
    sentinelRetryStrategy: () => null,
  });
  // Failures surface through the commands; without a listener ioredis would log them.
  client.on("error", () => undefined);
  return {
    ping: () => client.ping(),
    configGet: async (key) => {
      try {
        const reply = (await client.config("GET", key)) as string[];
        return reply[1];
      } catch {
        return undefined;
      }
    },
    info: async (section) => {
      const text = await client.info(section);
      const map = new Map<string, string>();
      for (const line of text.split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon > 0 && !line.startsWith("#"))
          map.set(line.slice(0, colon), line.slice(colon + 1));
      }
      return map;
    },
    close: async () => {
      client.disconnect();
      return Promise.resolve();
    },
  };
}
