import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

/** What the upstream site saw of one request. */
export interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage["headers"];
  readonly bodySha256: string;
  readonly bodyLength: number;
}

/** A real website on loopback standing behind the gateway, recording what reaches it. */
export interface UpstreamSite {
  readonly url: string;
  readonly seen: Seen[];
  /** Resolves `/stream`'s pause: the site sends its second chunk only after this. */
  releaseStream(): void;
  close(): Promise<void>;
}

/**
 * Routes: `/stream` (one chunk, then a second once released), `/never` (headers never
 * come), anything else answers 200 with a JSON echo and hop-by-hop headers of its own.
 * Upgrades to `/ws` get a minimal WebSocket echo (unmasks short text frames, sends them
 * back unmasked).
 */
export async function startUpstreamSite(): Promise<UpstreamSite> {
  const seen: Seen[] = [];
  let release: () => void = () => undefined;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const sockets = new Set<Duplex>();
  const server: Server = createServer((req, res) => {
    const hash = createHash("sha256");
    let length = 0;
    req.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    req.on("end", () => {
      const record: Seen = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        bodySha256: hash.digest("hex"),
        bodyLength: length,
      };
      seen.push(record);
      if (req.url === "/never") return;
      if (req.url === "/stream") {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.write("first,");
        void released.then(() => res.end("second"));
        return;
      }
      res.writeHead(200, [
        "Content-Type",
        "application/json",
        "X-Site",
        "upstream",
        "Set-Cookie",
        "a=1",
        "Set-Cookie",
        "b=2",
        "Connection",
        "X-Private-Hop",
        "X-Private-Hop",
        "secret",
        "Keep-Alive",
        "timeout=7",
      ]);
      res.end(JSON.stringify(record));
    });
  });
  server.on("connection", (socket: Duplex) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("upgrade", (req: IncomingMessage, socket: Duplex) => {
    const key = req.headers["sec-websocket-key"] ?? "";
    const accept = createHash("sha1")
      .update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest("base64");
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
    );
    socket.on("data", (frame: Buffer) => {
      const opcode = (frame[0] ?? 0) & 0x0f;
      const length = (frame[1] ?? 0) & 0x7f;
      if (opcode !== 1 || length > 125) {
        socket.end();
        return;
      }
      const mask = frame.subarray(2, 6);
      const payload = Buffer.from(frame.subarray(6, 6 + length));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
      socket.write(Buffer.concat([Buffer.from([0x81, length]), payload]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    seen,
    releaseStream: () => {
      release();
    },
    close: async () => {
      release();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
