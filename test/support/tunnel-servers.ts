import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { join } from "node:path";
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

/** A TCP echo server: the tunnel's target in these tests. */
export async function startEcho(): Promise<TestServer> {
  const server = createServer((socket) => socket.pipe(socket));
  const close = closer(server, new Set());
  return { port: await listen(server), close };
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

/** A self-signed certificate for `names` (the first is the CN), written into `dir` (PEM text and file paths). */
export function selfSigned(
  dir: string,
  names: readonly string[],
): { cert: string; key: string; certFile: string; keyFile: string } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      `/CN=${names[0] ?? "localhost"}`,
      "-addext",
      `subjectAltName=${names.map((n) => `DNS:${n}`).join(",")}`,
    ],
    { stdio: "ignore" },
  );
  return {
    cert: readFileSync(cert, "utf8"),
    key: readFileSync(key, "utf8"),
    certFile: cert,
    keyFile: key,
  };
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
  gateway.stranger.attach(http);
  const wss = new WebSocketServer({ noServer: true });
  http.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void live(req.socket.remoteAddress).then((ok) => {
      if (!ok || req.url !== routes.wsPath) {
        socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
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
