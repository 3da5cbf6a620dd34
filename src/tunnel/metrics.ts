import { Counter, Gauge, type Registry } from "prom-client";

/** Why a tunnel was not opened (the `reason` label of webknock_tunnels_refused_total). */
export type RefusalReason = "no-grant" | "per-ip" | "total" | "target";

/** Where a tunnel's bytes are counted; a no-op without the admin registry. */
export interface TunnelMetrics {
  /** A tunnel opened through `door`. */
  opened(door: string): void;
  /** A tunnel through `door` closed. */
  closed(door: string): void;
  /** A tunnel was refused. */
  refused(reason: RefusalReason): void;
  /** Counts bytes as they pass: `up` is client to target. */
  bytes(door: string, direction: "up" | "down", count: number): void;
}

/** The tunnel metrics on the admin registry, or no-ops when there is none. */
export function createTunnelMetrics(registry: Registry | undefined): TunnelMetrics {
  if (registry === undefined) {
    return { opened() {}, closed() {}, refused() {}, bytes() {} };
  }
  const registers = [registry];
  const open = new Gauge({
    name: "webknock_tunnels_open",
    help: "Tunnels open now, by door.",
    labelNames: ["door"],
    registers,
  });
  const refused = new Counter({
    name: "webknock_tunnels_refused_total",
    help: "Tunnel attempts refused, by reason (no-grant, per-ip, total, target).",
    labelNames: ["reason"],
    registers,
  });
  const bytes = new Counter({
    name: "webknock_tunnel_bytes_total",
    help: "Bytes through tunnels, by door and direction (up: client to target).",
    labelNames: ["door", "direction"],
    registers,
  });
  return {
    opened(door) {
      open.inc({ door });
    },
    closed(door) {
      open.dec({ door });
    },
    refused(reason) {
      refused.inc({ reason });
    },
    bytes(door, direction, count) {
      bytes.inc({ door, direction }, count);
    },
  };
}
