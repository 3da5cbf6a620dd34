import { z } from "zod";
import type { PortSpec } from "../config/types.js";

/** What happened to a grant, as carried on a host's stream. */
export type GrantEventKind = "open" | "revoke";

/** The part of a grant an agent needs: who, which ports, until when (absolute, epoch ms). */
export interface FleetGrant {
  readonly door: string;
  readonly ip: string;
  readonly ports: readonly PortSpec[];
  /** Epoch milliseconds; an agent programs the remaining time, never a duration. */
  readonly expiresAt: number;
}

/** One stream entry, decoded. */
export interface GrantEvent {
  /** The stream entry id (`ms-seq`). */
  readonly id: string;
  readonly kind: GrantEventKind;
  readonly grant: FleetGrant;
}

/** Bounds what an agent accepts; the firewall adapter validates ip and ports again. */
const grantSchema = z.strictObject({
  door: z.string().regex(/^[a-z0-9_-]{1,32}$/),
  ip: z.string().min(2).max(45),
  ports: z
    .array(
      z.strictObject({ proto: z.enum(["tcp", "udp"]), port: z.number().int().min(1).max(65535) }),
    )
    .min(1)
    .max(64),
  expiresAt: z.number().int().positive(),
});

/** The JSON a grant travels as (in the stream and the snapshot hash). */
export function encodeGrant(grant: FleetGrant): string {
  return JSON.stringify({
    door: grant.door,
    ip: grant.ip,
    ports: grant.ports.map(({ proto, port }) => ({ proto, port })),
    expiresAt: grant.expiresAt,
  });
}

/** Parses a grant's JSON; undefined for anything malformed (the agent logs and skips it). */
export function decodeGrant(json: string): FleetGrant | undefined {
  try {
    const parsed = grantSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Decodes one XREAD entry (`[id, [field, value, ...]]`); undefined when malformed. */
export function decodeEntry(id: string, fields: readonly string[]): GrantEvent | undefined {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] ?? "", fields[i + 1] ?? "");
  const kind = map.get("k");
  if (kind !== "open" && kind !== "revoke") return undefined;
  const grant = decodeGrant(map.get("g") ?? "");
  return grant === undefined ? undefined : { id, kind, grant };
}

/** Orders two stream ids (`ms-seq`): negative, zero or positive like a comparator. */
export function compareIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split("-").map((part) => BigInt(part));
  const [bMs = 0n, bSeq = 0n] = b.split("-").map((part) => BigInt(part));
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}
