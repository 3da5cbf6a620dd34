import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { createWebSocketStream, WebSocketServer } from "ws";
import type { Gateway } from "../../src/gateway.js";

/** A server on 127.0.0.1 the test closes. */
export interface TestServer {
  readonly port: number;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function closer(server: Server, sockets: Set<Socket>): () => Promise<void> {
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  return () =>
    new Promise((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => {
        resolve();
      });
    });
}

/** A small real HTTP CONNECT proxy, with optional Basic auth; counts the CONNECTs it served. */
export async function startConnectProxy(
  auth?: string,
): Promise<TestServer & { readonly connects: string[] }> {
  const connects: string[] = [];
  const server = createServer((client) => {
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end === -1) return;
      client.off("data", onData);
      const lines = head.subarray(0, end).toString("latin1").split("\r\n");
      const [method, authority] = (lines[0] ?? "").split(" ");
      const given = lines.find((l) => l.toLowerCase().startsWith("proxy-authorization:"));
      if (auth !== undefined && given?.split(" ")[2] !== Buffer.from(auth).toString("base64")) {
        client.end(
          'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n',
        );
        return;
      }
      const match = /^(.+):([0-9]+)$/.exec(authority ?? "");
      if (method !== "CONNECT" || match === null) {
        client.end("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        return;
      }
      connects.push(authority ?? "");
      const upstream = connect(Number(match[2]), (match[1] ?? "").replace(/^\[|\]$/g, ""), () => {
        client.write("HTTP/1.1 200 Connection established\r\n\r\n");
        const rest = head.subarray(end + 4);
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream).pipe(client);
      });
      upstream.on("error", () => client.destroy());
      client.on("error", () => upstream.destroy());
    };
    client.on("data", onData);
  });
  const close = closer(server, new Set());
  return { port: await listen(server), close, connects };
}

/** Where the stand-in routes tunnel to, and under which names. */
export interface TunnelRoutes {
  readonly door: string;
  readonly wsPath: string;
  readonly sni: string;
  readonly targetPort: number;
  readonly tls: { readonly cert: string; readonly key: string };
}

/**
 * The issue-12 routes in front of a real in-process gateway, for the client's tests until
 * the server side (branch mux-server) is merged: one port; a TLS ClientHello is
 * terminated and, with the tunnel SNI and a live grant in the gateway's store, piped to
 * the target; everything else is the gateway's HTTP handler, with a WebSocket upgrade on
 * the tunnel path piped to the target under a live grant and a 404 otherwise. Counts
 * connections, so a test can check a knock used one.
 */
export async function startTunnelFront(
  gateway: Gateway,
  routes: TunnelRoutes,
): Promise<TestServer & { readonly connections: () => number }> {
  let connections = 0;
  const live = async (ip: string | undefined) =>
    (await gateway.store.listGrants()).some(
      (g) => g.door === routes.door && g.ip === ip && g.expiresAt > Date.now(),
    );
  const toTarget = (stream: Duplex) => {
    const target = connect(routes.targetPort, "127.0.0.1");
    stream.pipe(target).pipe(stream);
    target.on("error", () => stream.destroy());
    stream.on("error", () => target.destroy());
    stream.on("close", () => target.destroy());
  };
  const http = createHttpServer(gateway.handler);
  const wss = new WebSocketServer({ noServer: true });
  // The stand-in WebSocket route, plugged in where the gateway's own goes: anything it
  // declines is answered as the stranger answers an upgrade.
  gateway.stranger.attach(http, (req, socket, head, decline) => {
    if (req.url !== routes.wsPath) {
      decline();
      return;
    }
    void live(req.socket.remoteAddress).then((ok) => {
      if (!ok) {
        decline();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        toTarget(createWebSocketStream(ws));
      });
    });
  });
  const server = createServer((socket) => {
    connections++;
    socket.once("data", (first: Buffer) => {
      socket.pause();
      socket.unshift(first);
      if (first[0] !== 0x16) {
        http.emit("connection", socket);
        socket.resume();
        return;
      }
      const tls = new TLSSocket(socket, {
        isServer: true,
        cert: routes.tls.cert,
        key: routes.tls.key,
      });
      tls.once("secure", () => {
        const sni = (tls as TLSSocket & { servername?: string | false }).servername;
        void live(socket.remoteAddress).then((ok) => {
          if (ok && sni === routes.sni) toTarget(tls);
          else tls.destroy();
        });
      });
      tls.on("error", () => tls.destroy());
    });
  });
  const close = closer(server, new Set());
  return { port: await listen(server), close, connections: () => connections };
}
