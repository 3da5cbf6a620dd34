import type { RedisClient } from "../store/redis-client.js";
import type { Clock } from "../clock.js";
import { StoreUnavailableError } from "../errors.js";
import type { GrantRecord } from "../store/types.js";
import { grantId } from "../store/types.js";
import { encodeGrant, type GrantEventKind } from "./events.js";
import { hostKeys, LOCAL_HOST } from "./keys.js";

/**
 * Receives the grant changes meant for hosts other than the gateway's own. GrantManager
 * calls it after recording the grant; a rejection fails the knock closed (503).
 */
export interface GrantEventSink {
  /** Records a grant opened or refreshed in each host's snapshot and appends an `open` event. */
  opened(grant: GrantRecord, hosts: readonly string[]): Promise<void>;
  /** Removes the grant from each host's snapshot and appends a `revoke` event. */
  revoked(grant: GrantRecord, hosts: readonly string[]): Promise<void>;
  /** Waits at most `timeoutMs` for the hosts' agents to confirm the grant; never longer. */
  awaitConfirmations(
    grant: GrantRecord,
    hosts: readonly string[],
    timeoutMs: number,
  ): Promise<Record<string, HostState>>;
}

/** Whether a host has programmed a grant (with its latest expiry) yet. */
export type HostState = "open" | "pending";

/**
 * Events stay in a host's stream this long. An agent that was away longer re-syncs from
 * the snapshot, so this only bounds memory: at 10 knocks/s and ~150 bytes an event, an
 * hour is ~5 MB per host.
 */
export const EVENT_RETENTION_MS = 3_600_000;

/** How often the knocker's bounded wait looks at the hosts' confirmations. */
const CONFIRM_POLL_MS = 20;

/**
 * One host's snapshot and stream in one atomic step (all keys share the `{host}` hash
 * tag, so it runs on a Cluster too). It also prunes up to 100 expired snapshot entries,
 * so the snapshot stays bounded without a sweeper of its own.
 * KEYS: grants hash, expiry zset, events stream. ARGV: kind, id, json, expiresAt, now, minId.
 */
const PUBLISH_SCRIPT = `
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[5], 'LIMIT', 0, 100)
for _, id in ipairs(stale) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
if ARGV[1] == 'open' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[2])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[2], ARGV[2])
end
return redis.call('XADD', KEYS[3], 'MINID', '~', ARGV[6], '*', 'k', ARGV[1], 'g', ARGV[3])
`;

type PublishingRedis = RedisClient & PublishCommand;

/** The publish script, typed. */
interface PublishCommand {
  wkFleetPublish(
    grants: string,
    expiry: string,
    events: string,
    ...argv: (string | number)[]
  ): Promise<string>;
}

/** The gateway's side of the fleet: publishes grant events and reads the agents' answers. */
export class FleetPublisher implements GrantEventSink {
  private readonly redis: PublishingRedis;

  constructor(
    client: RedisClient,
    private readonly prefix: string,
    private readonly now: Clock,
    private readonly retentionMs = EVENT_RETENTION_MS,
  ) {
    client.defineCommand("wkFleetPublish", { numberOfKeys: 3, lua: PUBLISH_SCRIPT });
    this.redis = client as PublishingRedis;
  }

  async opened(grant: GrantRecord, hosts: readonly string[]): Promise<void> {
    await this.publish("open", grant, hosts);
  }

  async revoked(grant: GrantRecord, hosts: readonly string[]): Promise<void> {
    await this.publish("revoke", grant, hosts);
  }

  /** Each host's state for a grant, read once; `local` is open (the gateway programmed it). */
  async confirmations(
    grant: GrantRecord,
    hosts: readonly string[],
  ): Promise<Record<string, HostState>> {
    const id = grantId(grant.door, grant.ip);
    const remote = hosts.filter((host) => host !== LOCAL_HOST);
    const values = await this.call(() =>
      Promise.all(remote.map((host) => this.redis.hget(hostKeys(this.prefix, host).confirmed, id))),
    );
    const states: Record<string, HostState> = {};
    for (const host of hosts) {
      const index = remote.indexOf(host);
      const confirmed = index < 0 ? Infinity : Number(values[index] ?? 0);
      states[host] = confirmed >= grant.expiresAt ? "open" : "pending";
    }
    return states;
  }

  /**
   * Waits at most `timeoutMs` for every host to confirm the grant, then answers what is
   * known: a slow or dead agent leaves its host `pending`, never a hung knock.
   */
  async awaitConfirmations(
    grant: GrantRecord,
    hosts: readonly string[],
    timeoutMs: number,
  ): Promise<Record<string, HostState>> {
    const deadline = this.now() + timeoutMs;
    const maxPolls = Math.ceil(timeoutMs / CONFIRM_POLL_MS) + 1;
    let states = await this.confirmations(grant, hosts);
    for (let poll = 0; poll < maxPolls && this.now() < deadline; poll++) {
      if (Object.values(states).every((state) => state === "open")) break;
      await new Promise((resolve) => setTimeout(resolve, CONFIRM_POLL_MS));
      states = await this.confirmations(grant, hosts);
    }
    return states;
  }

  private async publish(
    kind: GrantEventKind,
    grant: GrantRecord,
    hosts: readonly string[],
  ): Promise<void> {
    const now = this.now();
    const json = encodeGrant(grant);
    const id = grantId(grant.door, grant.ip);
    await this.call(() =>
      Promise.all(
        hosts.map((host) => {
          const keys = hostKeys(this.prefix, host);
          return this.redis.wkFleetPublish(
            keys.grants,
            keys.expiry,
            keys.events,
            kind,
            id,
            json,
            grant.expiresAt,
            now,
            Math.max(0, now - this.retentionMs),
          );
        }),
      ),
    );
  }

  private async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw new StoreUnavailableError(error);
    }
  }
}
