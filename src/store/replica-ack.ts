import type { ChainableCommander } from "ioredis";
import type { RedisTarget, ReplicaAck } from "../config/types.js";
import type { RedisClient } from "./redis-client.js";

/**
 * What the store asks of replicas before a TOTP claim counts: a requirement, nothing,
 * or "auto" (a Cluster: a requirement when every master has a replica, read from the
 * slot map once the Cluster answers).
 */
export type ReplicaAckPolicy = ReplicaAck | "off" | "auto";

/**
 * One replica within 200 ms: a replica on the same network acknowledges in about a
 * millisecond, so this only bites when none is there; it stays under the 300 ms each
 * Redis command is given (FAIL_CLOSED_REDIS_OPTIONS).
 */
export const DEFAULT_REPLICA_ACK: ReplicaAck = Object.freeze({ replicas: 1, timeoutMs: 200 });

/**
 * The policy for `store.redis` and `store.replicaAck`: the setting when given; else a
 * Sentinel group waits for one replica (a group exists to promote one), a Cluster
 * decides from its slot map, and a single URL does not wait (no replica to promote).
 */
export function replicaAckPolicy(
  target: RedisTarget,
  setting: ReplicaAck | "off" | undefined,
): ReplicaAckPolicy {
  if (setting !== undefined) return setting;
  if (typeof target === "string") return "off";
  return "cluster" in target ? "auto" : DEFAULT_REPLICA_ACK;
}

/**
 * The masters that serve slots, and those of them without a replica, from CLUSTER
 * NODES. Lines read `id addr flags master-id ping pong epoch link slot...`; a replica's
 * master-id names its master. Failed nodes count for nothing.
 */
export function replicaCover(nodes: string): { masters: string[]; bare: string[] } {
  const masters = new Map<string, string>();
  const covered = new Set<string>();
  for (const line of nodes.split("\n")) {
    const [id, addr, flags, masterId, , , , , ...slots] = line.trim().split(" ");
    if (id === undefined || addr === undefined || flags === undefined) continue;
    const roles = flags.split(",");
    if (roles.includes("fail") || roles.includes("noaddr")) continue;
    if (roles.includes("master") && slots.length > 0) masters.set(id, addr.split("@")[0] ?? addr);
    if (roles.includes("slave") && masterId !== undefined) covered.add(masterId);
  }
  return {
    masters: [...masters.values()],
    bare: [...masters].filter(([id]) => !covered.has(id)).map(([, addr]) => addr),
  };
}

/** What "auto" became, and why, for the log. */
export interface AutoReplicaAck {
  readonly ack: ReplicaAck | undefined;
  /** Masters without a replica (empty when every master has one). */
  readonly bare: readonly string[];
}

/**
 * Resolves "auto" on a Cluster: the default requirement when every master serving slots
 * has a replica (a failover can promote one, so claims must reach it); off when none
 * has (a dead master is an outage, never a promotion). When only some have one, the
 * requirement holds: claims in the bare masters' slots fail closed until they get one.
 */
export async function resolveAutoReplicaAck(client: RedisClient): Promise<AutoReplicaAck> {
  const { masters, bare } = replicaCover(String(await client.call("CLUSTER", "NODES")));
  const ack = bare.length === masters.length ? undefined : DEFAULT_REPLICA_ACK;
  return { ack, bare };
}

/**
 * Holds the replica requirement in force. "auto" is asked of the Cluster on the first
 * claim (not at start-up, which may find Redis down) and kept; a failed attempt is
 * asked again on the next claim, which meanwhile fails closed.
 */
export class ReplicaAckGate {
  private auto: Promise<ReplicaAck | undefined> | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly policy: ReplicaAckPolicy = "off",
    private readonly onResolved?: (resolved: AutoReplicaAck) => void,
  ) {}

  /** The requirement, or undefined when a claim counts at once. */
  current(): Promise<ReplicaAck | undefined> {
    if (this.policy === "off") return Promise.resolve(undefined);
    if (this.policy !== "auto") return Promise.resolve(this.policy);
    this.auto ??= resolveAutoReplicaAck(this.client).then(
      (resolved) => {
        this.onResolved?.(resolved);
        return resolved.ack;
      },
      (error: unknown) => {
        this.auto = undefined;
        throw error;
      },
    );
    return this.auto;
  }
}

/** A pipeline that also takes the TOTP claim script (registered by registerScripts). */
interface ClaimPipeline extends ChainableCommander {
  wkClaimTotp(key: string, step: number, ttlMs: number): ClaimPipeline;
}

/** Not enough replicas acknowledged a claim in time. */
export class ReplicaAckTimeout extends Error {
  constructor(acked: number, ack: ReplicaAck) {
    super(`${acked} of ${ack.replicas} replicas acknowledged the claim within ${ack.timeoutMs} ms`);
    this.name = "ReplicaAckTimeout";
  }
}

/**
 * The TOTP claim and `WAIT replicas timeout` in one pipeline: the same connection (WAIT
 * covers the writes made on it) and, on a Cluster, the node that owns the claim's slot
 * (WAIT has no key to route by). Resolves the claim's reply (1 claimed, 0 replay); a
 * claim too few replicas acknowledged rejects with ReplicaAckTimeout, because a promoted
 * replica would not know it and could accept the code again. The claim stands on the
 * master: the user knocks again with the next code.
 */
export async function claimAcknowledged(
  client: RedisClient,
  key: string,
  timeStep: number,
  ttlMs: number,
  ack: ReplicaAck,
): Promise<number> {
  const replies = await (client.pipeline() as ClaimPipeline)
    .wkClaimTotp(key, timeStep, ttlMs)
    .wait(ack.replicas, ack.timeoutMs)
    .exec();
  const [claim, acks] = replies ?? [];
  if (claim === undefined) throw new Error("the claim pipeline was aborted");
  if (claim[0] !== null) throw claim[0];
  if (claim[1] !== 1) return 0;
  if (acks?.[0] !== null && acks?.[0] !== undefined) throw acks[0];
  const acked = Number(acks?.[1] ?? 0);
  if (acked < ack.replicas) throw new ReplicaAckTimeout(acked, ack);
  return 1;
}
