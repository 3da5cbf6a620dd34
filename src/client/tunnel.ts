import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import WebSocket, { createWebSocketStream } from "ws";
import { WebknockError } from "../errors.js";
import { openStream } from "./connect.js";
import { TransportError } from "./http.js";

/** How the tunnel reaches the door's `tunnel.to` through the gateway's port. */
export type TunnelRoute =
  /** A WebSocket upgrade on the door's secret `tunnel.path`: passes HTTP proxies and CDNs. */
  | { readonly kind: "ws"; readonly path: string }
  /** TLS with the door's `tunnel.sni` as SNI: the stream after the handshake is the target's. */
  | { readonly kind: "sni"; readonly name: string };

/** Where and how to open a tunnel. */
export interface TunnelRequest {
  /** The gateway's base URL, as for the knock: the tunnel uses its host and port. */
  readonly url: URL;
  readonly route: TunnelRoute;
  /** Accept any certificate (--insecure). */
  readonly insecure?: boolean | undefined;
  /** A CONNECT proxy (proxyFor), or undefined. */
  readonly proxy?: URL | undefined;
  /** Bound on opening the tunnel (connect, proxy, TLS, upgrade). */
  readonly timeoutMs: number;
}

/**
 * The gateway did not open the tunnel: it answered the WebSocket upgrade with something
 * other than 101, or (TLS route) answered the client's first bytes as its web app. Either
 * way: no live grant on the door, or the route names no door.
 */
export class TunnelRefusedError extends WebknockError {
  constructor(
    readonly status: number,
    route: TunnelRoute["kind"] = "ws",
    /** What the client had sent on the refused tunnel (TLS route), to send again after a knock. */
    readonly sent?: Buffer,
  ) {
    super(
      "ERR_TUNNEL_REFUSED",
      route === "ws"
        ? `The gateway refused the tunnel (HTTP ${status} to the WebSocket upgrade): this address holds no live grant on the door, or the tunnel path is wrong.`
        : `The gateway refused the tunnel (its web app answered HTTP ${status} over TLS, where the service should have): this address holds no live grant on the door, or the SNI is not the door's tunnel.sni.`,
      {
        fix:
          route === "ws"
            ? "Knock again (webknock tunnel --knock), and check the profile's tunnelPath against the door's tunnel.path."
            : "Knock again (webknock tunnel --knock), and check the profile's tunnelSni against the door's tunnel.sni.",
      },
    );
  }
}

/** The largest WebSocket message accepted from the gateway; it sends TCP reads, 64 KiB or less. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Opens the tunnel and resolves with a duplex stream of the target's bytes (backpressure
 * is the stream's: a full reader pauses the socket). Rejects with TunnelRefusedError
 * when the gateway says no, or a TransportError when it cannot be reached.
 */
export async function openTunnel(request: TunnelRequest): Promise<Duplex> {
  const { url, route } = request;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const secure = url.protocol === "https:";
  const endpoint = { host, port: Number(url.port || (secure ? 443 : 80)) };
  if (route.kind === "sni") {
    // SNI is the door's tunnel name; the certificate may be the listener's (the gateway's
    // name) or the door's own (the SNI name).
    return openStream(endpoint, {
      proxy: request.proxy,
      timeoutMs: request.timeoutMs,
      tls: {
        servername: route.name,
        identities: [route.name, host],
        insecure: request.insecure === true,
      },
    });
  }
  const socket = await openStream(endpoint, {
    proxy: request.proxy,
    timeoutMs: request.timeoutMs,
    tls: secure
      ? {
          servername: host,
          identities: [host],
          insecure: request.insecure === true,
          alpn: ["http/1.1"],
        }
      : undefined,
  });
  const target = new URL(route.path, `${secure ? "wss" : "ws"}://${url.host}`);
  const ws = new WebSocket(target, {
    // The stream is already connected (and through the proxy, and TLS): ws speaks HTTP on it.
    createConnection: () => socket,
    perMessageDeflate: false,
    handshakeTimeout: request.timeoutMs,
    maxPayload: MAX_MESSAGE_BYTES,
    followRedirects: false,
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => {
      resolve();
    });
    ws.once("unexpected-response", (_req, res: IncomingMessage) => {
      res.resume();
      socket.destroy();
      reject(new TunnelRefusedError(res.statusCode ?? 0));
    });
    ws.on("error", (error: Error) => {
      socket.destroy();
      reject(
        new TransportError(
          "unreachable",
          `The WebSocket tunnel to ${url.host} failed: ${error.message}.`,
          {
            cause: error,
          },
        ),
      );
    });
  });
  ws.binaryType = "nodebuffer";
  return createWebSocketStream(ws);
}
