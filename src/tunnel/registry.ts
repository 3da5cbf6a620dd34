import { connect as netConnect, type OnReadOpts, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { Clock } from "../clock.js";
import type { TunnelLimits } from "../config/types.js";
import type { Logger } from "../log.js";
import type { RefusalReason, TunnelMetrics } from "./metrics.js";
import { proxyV2Header, type Endpoint } from "./proxy-v2.js";
import { startCopy, type CopyEnds } from "./pump.js";

/** How a tunnel was asked for. */
export type TunnelRoute = "ssh" | "sni" | "websocket";

/** Why a tunnel closed, as the audit line says. */
export type CloseReason = "end" | "idle" | "revoke" | "error" | "shutdown";

/** One tunnel to open: who, through which door, to where, and the client's stream. */
export interface TunnelRequest {
  readonly door: string;
  readonly to: { readonly host: string; readonly port: number };
  /** Send a PROXY v2 header naming `source` and `destination` to `to` first. */
  readonly proxyProtocol: boolean;
  /** The client's canonical IP (the grant's). */
  readonly ip: string;
  /** The user whose grant let it in. */
  readonly user: string;
  /** That grant's expiry when the tunnel opened (a revoke is a record gone before it). */
  readonly grantExpiresAt: number;
  readonly route: TunnelRoute;
  /** The client's side: a TCP socket, a TLS socket or a WebSocket stream. */
  readonly client: Duplex;
  /** The client's address and port, for the PROXY header. */
  readonly source: Endpoint;
  /** The listener's address and port, for the PROXY header. */
  readonly destination: Endpoint;
}

/**
 * Connects to a tunnel's target, its reads going to `onread`; net.connect unless a test
 * says otherwise.
 */
export type Connector = (to: { host: string; port: number }, onread: OnReadOpts) => Socket;

interface Tunnel {
  readonly request: TunnelRequest;
  /** The client's stream: `request.client`, or the socket that took over its connection. */
  readonly client: Duplex;
  readonly target: Socket;
  readonly openedAt: number;
  /** The grant's expiry as last seen (a re-knock moves it). */
  grantExpiresAt: number;
  /** Bytes copied so far, client to target (up) and back (down). */
  readonly bytes: { up: number; down: number };
  closed: boolean;
  close(reason: CloseReason): void;
}

/**
 * Every open tunnel: enforces the limits (per IP, in total, idle), copies both ways with
 * backpressure (src/tunnel/pump.ts: one read buffer in flight each way; a TLS or
 * WebSocket client's side is piped, which pauses it while the target's buffer is full),
 * closes an IP's tunnels on revoke, and audits open and close.
 */
export class TunnelRegistry {
  private readonly tunnels = new Set<Tunnel>();
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly limits: TunnelLimits,
    private readonly log: Logger,
    private readonly metrics: TunnelMetrics,
    private readonly now: Clock,
    private readonly connect: Connector = (to, onread) =>
      netConnect({ host: to.host, port: to.port, allowHalfOpen: true, noDelay: true, onread }),
  ) {}

  /** Open tunnels now. */
  get size(): number {
    return this.tunnels.size;
  }

  /**
   * Whether one more tunnel for `ip` fits the limits: undefined if it does, else the
   * reason it does not. The routes ask before they answer a client (a TLS handshake, a
   * WebSocket 101), so an over-limit client is closed before it sees anything.
   */
  admit(ip: string): RefusalReason | undefined {
    if (this.tunnels.size >= this.limits.maxTotal) return "total";
    if ((this.perIp.get(ip) ?? 0) >= this.limits.maxPerIp) return "per-ip";
    return undefined;
  }

  /**
   * Opens a tunnel: connects to the target and copies both ways until both sides have
   * ended, either fails, or it idles past the limit. Returns false, having destroyed the
   * client, when the limits refuse it (checked again here: the grant lookup was async).
   */
  open(request: TunnelRequest): boolean {
    const refusal = this.admit(request.ip);
    if (refusal !== undefined) {
      this.refuse(refusal, request);
      request.client.destroy();
      return false;
    }
    const bytes = { up: 0, down: 0 };
    const idle = setTimeout(() => {
      tunnel.close("idle");
    }, this.limits.idleTimeoutMs);
    idle.unref();
    const counter = (direction: "up" | "down") => (count: number) => {
      bytes[direction] += count;
      this.metrics.bytes(request.door, direction, count);
      idle.refresh();
    };
    let ends: CopyEnds;
    try {
      ends = startCopy(
        request.client,
        (onread) => this.connect(request.to, onread),
        { up: counter("up"), down: counter("down") },
        request.proxyProtocol ? proxyV2Header(request.source, request.destination) : undefined,
      );
    } catch (error) {
      // No tunnel for the timer to close: a connector that threw (a test's) opened none.
      clearTimeout(idle);
      throw error;
    }
    const { client, target } = ends;
    const tunnel: Tunnel = {
      request,
      client,
      target,
      openedAt: this.now(),
      grantExpiresAt: request.grantExpiresAt,
      bytes,
      closed: false,
      close: (reason) => {
        this.finish(tunnel, reason);
      },
    };
    this.tunnels.add(tunnel);
    this.perIp.set(request.ip, (this.perIp.get(request.ip) ?? 0) + 1);
    this.metrics.opened(request.door);
    this.log.info(
      { event: "tunnel-open", ...this.who(request), route: request.route },
      "tunnel opened",
    );
    let open = 2;
    const closedOne = () => {
      if (--open === 0) tunnel.close("end");
    };
    client.once("close", closedOne);
    target.once("close", closedOne);
    client.on("error", () => {
      tunnel.close("error");
    });
    target.on("error", (error: Error & { code?: string }) => {
      if (bytes.up === 0 && bytes.down === 0) this.metrics.refused("target");
      this.log.warn(
        { event: "tunnel-target-error", door: request.door, code: error.code },
        "tunnel target failed",
      );
      tunnel.close("error");
    });
    const clear = () => {
      clearTimeout(idle);
    };
    target.once("close", clear);
    return true;
  }

  /** Closes every tunnel `ip` holds through `door` (an admin revoke); returns how many. */
  closeIp(door: string, ip: string): number {
    let count = 0;
    for (const tunnel of this.tunnels) {
      if (tunnel.request.door === door && tunnel.request.ip === ip) {
        tunnel.close("revoke");
        count++;
      }
    }
    return count;
  }

  /**
   * The grants open tunnels hang on, keyed `door` NUL `ip`: each with the latest expiry
   * seen. The revoke check asks the store about each (src/tunnel/revoke-check.ts).
   */
  heldGrants(): Map<string, { door: string; ip: string; expiresAt: number }> {
    const held = new Map<string, { door: string; ip: string; expiresAt: number }>();
    for (const { request, grantExpiresAt } of this.tunnels) {
      const key = `${request.door}\0${request.ip}`;
      const seen = held.get(key);
      if (seen === undefined || seen.expiresAt < grantExpiresAt)
        held.set(key, { door: request.door, ip: request.ip, expiresAt: grantExpiresAt });
    }
    return held;
  }

  /** Records a re-knock: the IP's tunnels through `door` now hang on a grant until `expiresAt`. */
  extendGrant(door: string, ip: string, expiresAt: number): void {
    for (const tunnel of this.tunnels) {
      if (tunnel.request.door === door && tunnel.request.ip === ip)
        tunnel.grantExpiresAt = Math.max(tunnel.grantExpiresAt, expiresAt);
    }
  }

  /** Closes every tunnel (gateway stop). */
  closeAll(): void {
    for (const tunnel of this.tunnels) tunnel.close("shutdown");
  }

  /** Counts and logs a refusal; the client is a granted one (strangers never get here). */
  refuse(reason: RefusalReason, request: Pick<TunnelRequest, "door" | "ip" | "route">): void {
    this.metrics.refused(reason);
    if (reason === "no-grant") return;
    this.log.warn(
      { event: "tunnel-refused", reason, door: request.door, ip: request.ip, route: request.route },
      "tunnel refused by a limit",
    );
  }

  private finish(tunnel: Tunnel, reason: CloseReason): void {
    if (tunnel.closed) return;
    tunnel.closed = true;
    const { request } = tunnel;
    tunnel.client.destroy();
    tunnel.target.destroy();
    this.tunnels.delete(tunnel);
    const left = (this.perIp.get(request.ip) ?? 1) - 1;
    if (left === 0) this.perIp.delete(request.ip);
    else this.perIp.set(request.ip, left);
    this.metrics.closed(request.door);
    this.log.info(
      {
        event: "tunnel-close",
        ...this.who(request),
        route: request.route,
        reason,
        bytesUp: tunnel.bytes.up,
        bytesDown: tunnel.bytes.down,
        durationMs: this.now() - tunnel.openedAt,
      },
      "tunnel closed",
    );
  }

  private who(request: TunnelRequest) {
    return {
      ip: request.ip,
      door: request.door,
      user: request.user,
      to: `${request.to.host.includes(":") ? `[${request.to.host}]` : request.to.host}:${String(request.to.port)}`,
    };
  }
}
