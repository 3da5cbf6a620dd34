import type { RedisClient } from "../store/redis-client.js";
import { StoreUnavailableError } from "../errors.js";
import { hostKeys } from "./keys.js";
import { readStreamInfo } from "./stream-info.js";

/** One agent as `GET /agents` and `webknock agents list` show it. */
export interface AgentStatus {
  readonly host: string;
  /** Epoch ms of the last heartbeat; undefined if the agent never ran. */
  readonly heartbeatAt: number | undefined;
  /** Events in the host's stream after the agent's cursor (capped at LAG_CAP). */
  readonly lag: number;
  /** Live grants the agent has programmed. */
  readonly applied: number;
  /** The agent's firewall backend. */
  readonly backend: string | undefined;
  /** The stream entry the agent has read up to. */
  readonly cursor: string | undefined;
}

/** Counting stops here: a lag this large already says "not following". */
export const LAG_CAP = 10_000;

/** Reads each host's agent record and counts how far it is behind its stream. */
export async function listAgents(
  redis: RedisClient,
  prefix: string,
  hosts: readonly string[],
): Promise<AgentStatus[]> {
  try {
    return await Promise.all(hosts.map((host) => readAgent(redis, prefix, host)));
  } catch (error) {
    throw new StoreUnavailableError(error);
  }
}

async function readAgent(redis: RedisClient, prefix: string, host: string): Promise<AgentStatus> {
  const keys = hostKeys(prefix, host);
  const record = await redis.hgetall(keys.agent);
  const cursor = record.cursor;
  let lag: number;
  if (cursor === undefined) {
    lag = (await readStreamInfo(redis, keys.events))?.length ?? 0;
  } else {
    // Exclusive start: the events after the cursor.
    lag = (await redis.xrange(keys.events, `(${cursor}`, "+", "COUNT", LAG_CAP)).length;
  }
  return {
    host,
    heartbeatAt: record.heartbeatAt === undefined ? undefined : Number(record.heartbeatAt),
    lag,
    applied: Number(record.applied ?? 0),
    backend: record.backend,
    cursor,
  };
}
