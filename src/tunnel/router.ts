import type { Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server, type Socket } from "node:net";
import { TLSSocket, type SecureContext } from "node:tls";
import type { DoorConfig, TunnelLimits } from "../config/types.js";
import { canonicalIp } from "../net/ip.js";
import type { LiveGrants } from "./live-grants.js";
import { classify, type Peeked, type PeekWants } from "./peek.js";
import type { TunnelRegistry, TunnelRoute } from "./registry.js";

/** A door whose tunnel the SNI route serves, with the certificate it terminates TLS with. */
export interface SniRoute {
  readonly door: DoorConfig;
  /** The certificate it terminates with, current (re-read when its files change). */
  readonly context: () => SecureContext;
}

/** A router is closed like a node:http server: close(), then closeAllConnections(). */
export type Router = Server & { closeAllConnections(): void };

/** What one listener's connection router needs. */
export interface RouterDeps {
  /**
   * The listener's own server (node:http or node:https, never listening itself): every
   * connection that is not a granted tunnel is handed to it with the bytes peeked, so it
   * answers exactly as it would without the router.
   */
  readonly server: HttpServer;
  /** The `ssh: true` door, if any. */
  readonly ssh?: DoorConfig;
  /** SNI (lower case) -> door and certificate; empty when no door has one. */
  readonly sni: ReadonlyMap<string, SniRoute>;
  readonly grants: LiveGrants;
  readonly tunnels: TunnelRegistry;
  readonly limits: TunnelLimits;
}

/**
 * The connection router: a net.Server in front of a listener's HTTP(S) server. It reads a
 * new connection's first bytes (at most `peekBytes`, for at most `peekTimeout`) and hands
 * the connection on, decided once: `SSH-` from an IP with a live grant on the ssh door,
 * or a ClientHello naming a door's SNI from an IP with a live grant on that door, becomes
 * a tunnel; everything else, granted or not, goes to the server with its bytes put back.
 */
export function createConnectionRouter(deps: RouterDeps): Router {
  const { server, limits } = deps;
  // Accept sockets as the server itself would have (http: half-open, no Nagle).
  const router = createNetServer({
    allowHalfOpen: (server as unknown as { allowHalfOpen: boolean }).allowHalfOpen,
    noDelay: true,
    pauseOnConnect: false,
  });
  // node:http starts its header and request timeouts when it starts listening, which this
  // server never does: start them by hand.
  server.emit("listening");
  const sockets = new Set<Socket>();
  const wants = { ssh: deps.ssh !== undefined, sni: deps.sni.size > 0 };
  router.on("close", () => {
    server.close();
  });
  router.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    peek(socket, limits, wants, (peeked, bytes) => {
      void dispatch(deps, socket, peeked, bytes);
    });
  });
  return Object.assign(router, {
    closeAllConnections() {
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    },
  });
}

/**
 * Reads until `classify` decides, the size or time runs out, or the client goes. Calls
 * `decided` once, with the socket paused and the bytes read not yet put back.
 */
function peek(
  socket: Socket,
  limits: TunnelLimits,
  wants: PeekWants,
  decided: (peeked: Peeked, bytes: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const done = () => {
    clearTimeout(timer);
    socket.off("data", onData);
    socket.off("end", onEnd);
    socket.off("error", onError);
  };
  const decide = (final: boolean) => {
    const bytes = chunks.length === 1 ? (chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(chunks);
    const peeked = classify(bytes.subarray(0, limits.peekBytes), final, wants);
    if (peeked.kind === "more") return;
    done();
    socket.pause();
    decided(peeked, bytes);
  };
  const onData = (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
    decide(size >= limits.peekBytes);
  };
  // The client ended before its first bytes said anything (nginx closes such a connection
  // without a word, and so does node:http on an incomplete request).
  const onEnd = () => {
    done();
    socket.destroy();
  };
  const onError = () => {
    done();
    socket.destroy();
  };
  const timer = setTimeout(() => {
    decide(true);
  }, limits.peekTimeoutMs);
  socket.on("data", onData);
  socket.once("end", onEnd);
  socket.on("error", onError);
}

async function dispatch(deps: RouterDeps, socket: Socket, peeked: Peeked, bytes: Buffer) {
  const route = tunnelFor(deps, peeked);
  if (route !== undefined) {
    const ip = canonicalIp(socket.remoteAddress);
    const grant = ip === undefined ? undefined : await deps.grants.find(route.door.name, ip);
    if (ip !== undefined && grant !== undefined && !socket.destroyed) {
      const refusal = deps.tunnels.admit(ip);
      if (refusal !== undefined) {
        deps.tunnels.refuse(refusal, { door: route.door.name, ip, route: route.kind });
        socket.destroy();
        return;
      }
      socket.unshift(bytes);
      const client =
        route.kind === "sni" ? await terminate(socket, route.context(), deps.limits) : socket;
      if (client === undefined) return;
      const tunnel = route.door.tunnel;
      if (tunnel === undefined) return;
      deps.tunnels.open({
        door: route.door.name,
        to: tunnel.to,
        proxyProtocol: tunnel.proxyProtocol,
        ip,
        user: grant.user,
        grantExpiresAt: grant.expiresAt,
        route: route.kind,
        client,
        source: { address: socket.remoteAddress ?? ip, port: socket.remotePort ?? 0 },
        destination: { address: socket.localAddress ?? "", port: socket.localPort ?? 0 },
      });
      return;
    }
    deps.tunnels.refuse("no-grant", { door: route.door.name, ip: ip ?? "", route: route.kind });
  }
  if (socket.destroyed) return;
  // Everything else is the server's, bytes and all: it answers as if nothing had looked.
  socket.unshift(bytes);
  unpause(socket);
  // A socket with no bytes is handed over only when the peek time ran out.
  if (bytes.length === 0) {
    closeIfSilent(socket, deps.server.headersTimeout - deps.limits.peekTimeoutMs);
  }
  deps.server.emit("connection", socket);
}

/**
 * The server's header clock starts when it is handed a connection, but nginx's starts at
 * accept: a client silent through the peek would otherwise be closed the peek time later
 * than nginx closes it, which a prober could time. This closes a connection still silent
 * `leftMs` after the hand-over (the header timeout less the peek), as the server would
 * have (its own clock, later, then finds nothing to do). A client that spoke in the
 * meantime is the server's alone.
 */
function closeIfSilent(socket: Socket, leftMs: number): void {
  const timer = setTimeout(
    () => {
      if (socket.bytesRead === 0) socket.destroy();
    },
    Math.max(0, leftMs),
  );
  timer.unref();
  socket.once("close", () => {
    clearTimeout(timer);
  });
}

type Candidate =
  | { readonly kind: Extract<TunnelRoute, "ssh">; readonly door: DoorConfig }
  | {
      readonly kind: Extract<TunnelRoute, "sni">;
      readonly door: DoorConfig;
      readonly context: () => SecureContext;
    };

/** The door a connection asks for, before its grant is looked up. */
function tunnelFor(deps: RouterDeps, peeked: Peeked): Candidate | undefined {
  if (peeked.kind === "ssh" && deps.ssh !== undefined) return { kind: "ssh", door: deps.ssh };
  if (peeked.kind === "tls" && peeked.sni !== undefined) {
    const route = deps.sni.get(peeked.sni);
    if (route !== undefined) return { kind: "sni", door: route.door, context: route.context };
  }
  return undefined;
}

/**
 * Terminates TLS for a granted SNI client; resolves with the TLS socket once the
 * handshake is done, or undefined (socket destroyed) if it fails or takes longer than the
 * peek timeout.
 */
function terminate(
  socket: Socket,
  context: SecureContext,
  limits: TunnelLimits,
): Promise<TLSSocket | undefined> {
  return new Promise((resolve) => {
    const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
    const timer = setTimeout(() => {
      tls.destroy();
    }, limits.peekTimeoutMs);
    tls.once("secure", () => {
      clearTimeout(timer);
      tls.pause();
      resolve(tls);
    });
    tls.once("close", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    tls.on("error", () => {
      tls.destroy();
    });
    unpause(socket);
  });
}

/**
 * Back to neither paused nor flowing, as node:http leaves a socket before its 'upgrade'
 * event: the next owner's first 'data' listener then starts the flow, buffered bytes first.
 */
function unpause(socket: Socket): void {
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
}
