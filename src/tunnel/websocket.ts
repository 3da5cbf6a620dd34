import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { createWebSocketStream, WebSocketServer } from "ws";
import type { DoorConfig } from "../config/types.js";
import type { ClientIpResolver } from "../net/client-ip.js";
import type { UpgradeRoute } from "../stealth/stranger.js";
import type { LiveGrants } from "./live-grants.js";
import type { TunnelRegistry } from "./registry.js";

/**
 * Largest WebSocket message the route accepts: a client sends its TCP bytes in messages
 * of at most this size (a stdin read is 64 KiB). ws would otherwise take 100 MiB.
 */
export const WS_MAX_PAYLOAD = 256 * 1024;

/** What the WebSocket route needs. */
export interface WebSocketRouteDeps {
  /** `tunnel.path` -> door, for every door with a path. */
  readonly paths: ReadonlyMap<string, DoorConfig>;
  readonly grants: LiveGrants;
  readonly tunnels: TunnelRegistry;
  /** The same client address the knock was recorded under (trustProxy applies). */
  readonly clientIp: ClientIpResolver;
}

const KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * The WebSocket tunnel route: `GET tunnel.path` with `Upgrade: websocket`, from an IP
 * with a live grant on that door, becomes a tunnel to the door's `to`. Binary messages
 * carry the raw TCP bytes both ways; no subprotocol; either side ending closes it.
 * Everything else is declined: the stranger answers it as it answers an unknown path.
 */
export function createWebSocketRoute(deps: WebSocketRouteDeps): UpgradeRoute {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: WS_MAX_PAYLOAD,
    perMessageDeflate: false,
    clientTracking: false,
  });
  return (req, socket, head, decline) => {
    const door = deps.paths.get(pathOf(req.url));
    const tunnel = door?.tunnel;
    const ip = deps.clientIp(req);
    if (door === undefined || tunnel === undefined || ip === undefined || !isWebSocket(req)) {
      decline();
      return;
    }
    void deps.grants.find(door.name, ip).then((grant) => {
      if (socket.destroyed) return;
      if (grant === undefined) {
        deps.tunnels.refuse("no-grant", { door: door.name, ip, route: "websocket" });
        decline();
        return;
      }
      const refusal = deps.tunnels.admit(ip);
      if (refusal !== undefined) {
        deps.tunnels.refuse(refusal, { door: door.name, ip, route: "websocket" });
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        // node:http hands a net.Socket (or a TLSSocket, which is one) as a Duplex.
        // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
        const raw: Socket = socket as Socket;
        deps.tunnels.open({
          door: door.name,
          to: tunnel.to,
          proxyProtocol: tunnel.proxyProtocol,
          ip,
          user: grant.user,
          grantExpiresAt: grant.expiresAt,
          route: "websocket",
          // ws pauses the socket while this stream's buffer is full: backpressure.
          client: createWebSocketStream(ws),
          source: { address: ip, port: raw.remotePort ?? 0 },
          destination: { address: raw.localAddress ?? "", port: raw.localPort ?? 0 },
        });
      });
    });
  };
}

function pathOf(url: string | undefined): string {
  const text = url ?? "";
  const query = text.indexOf("?");
  return query === -1 ? text : text.slice(0, query);
}

/** A well-formed RFC 6455 opening handshake; anything else is a plain request to us. */
function isWebSocket(req: IncomingMessage): boolean {
  return (
    req.method === "GET" &&
    req.httpVersion === "1.1" &&
    req.headers.upgrade?.toLowerCase() === "websocket" &&
    req.headers["sec-websocket-version"] === "13" &&
    KEY.test(req.headers["sec-websocket-key"] ?? "")
  );
}
