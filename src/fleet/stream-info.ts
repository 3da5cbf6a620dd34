import type { RedisClient } from "../store/redis-client.js";
import { compareIds } from "./events.js";

/** The parts of XINFO STREAM the fleet uses. */
export interface StreamInfo {
  /** Number of entries now in the stream. */
  readonly length: number;
  /** Id of the newest entry ever added. */
  readonly lastId: string;
  /** Id of the oldest entry still in the stream; undefined when it is empty. */
  readonly firstId: string | undefined;
}

/** Reads XINFO STREAM; undefined when the stream does not exist yet. */
export async function readStreamInfo(
  redis: RedisClient,
  key: string,
): Promise<StreamInfo | undefined> {
  let reply: unknown;
  try {
    reply = await redis.xinfo("STREAM", key);
  } catch (error) {
    if (/no such key/i.test((error as Error).message)) return undefined;
    throw error;
  }
  const fields = new Map<string, string>();
  const flat = reply as unknown[];
  let firstId: string | undefined;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const value = flat[i + 1];
    if (typeof value === "string" || typeof value === "number") {
      fields.set(String(flat[i]), String(value));
    } else if (flat[i] === "first-entry" && Array.isArray(value) && typeof value[0] === "string") {
      firstId = value[0];
    }
  }
  return {
    length: Number(fields.get("length") ?? 0),
    lastId: fields.get("last-generated-id") ?? "0-0",
    firstId,
  };
}

/**
 * True when events after `cursor` were trimmed before they were read: the stream has
 * added entries past the cursor, yet none of them is left after it. (XTRIM does not move
 * max-deleted-entry-id in Redis 7.0, so the first entry is what tells.)
 */
export function missedEvents(info: StreamInfo | undefined, cursor: string): boolean {
  if (info === undefined) return cursor !== "0-0";
  if (compareIds(info.lastId, cursor) <= 0) return false;
  return info.firstId === undefined || compareIds(info.firstId, cursor) > 0;
}

/** `last-generated-id` from a raw XINFO STREAM reply (as read inside a MULTI). */
export function lastGeneratedId(info: unknown): string | undefined {
  if (!Array.isArray(info)) return undefined;
  const index = info.indexOf("last-generated-id");
  const value: unknown = info[index + 1];
  return index >= 0 && typeof value === "string" ? value : undefined;
}
