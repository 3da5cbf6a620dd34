import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { PassThrough } from "node:stream";
import { TLSSocket } from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import type { TunnelLimits } from "../../src/config/types.js";
import { silentLogger } from "../../src/log.js";
import { createTunnelMetrics } from "../../src/tunnel/metrics.js";
import { adoptSocket, copyReads, READ_BUFFER_BYTES } from "../../src/tunnel/pump.js";
import { TunnelRegistry, type Connector } from "../../src/tunnel/registry.js";
import { waitFor } from "../support/wait.js";

/**
 * The tunnel's copy (src/tunnel/pump.ts) between real loopback sockets: every byte in
 * order both ways, the bytes read before the hand-over first, half-close passed on, and
 * no more than one read buffer held while the target stops reading.
 */
const LIMITS: TunnelLimits = {
  maxPerIp: 4,
  maxTotal: 16,
  idleTimeoutMs: 60_000,
  peekTimeoutMs: 1000,
  peekBytes: 512,
  revokeCheckMs: 2000,
};

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function listen(handler: (socket: Socket) => void): Promise<number> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/**
 * A gateway stand-in: reads the first chunk as the router's peek does, lets more arrive
 * (buffered, unread) for `holdMs`, puts the first back and opens the tunnel to `port`.
 */
async function gateway(registry: TunnelRegistry, port: number, holdMs = 50): Promise<number> {
  return listen((socket) => {
    socket.once("data", (first: Buffer) => {
      socket.pause();
      setTimeout(() => {
        socket.unshift(first);
        registry.open({
          door: "ssh",
          to: { host: "127.0.0.1", port },
          proxyProtocol: false,
          ip: "127.0.0.1",
          user: "alice",
          grantExpiresAt: Date.now() + 60_000,
          route: "ssh",
          client: socket,
          source: { address: "127.0.0.1", port: socket.remotePort ?? 0 },
          destination: { address: "127.0.0.1", port: socket.localPort ?? 0 },
        });
      }, holdMs);
    });
  });
}

function registryWith(connect?: Connector): TunnelRegistry {
  return new TunnelRegistry(
    LIMITS,
    silentLogger(),
    createTunnelMetrics(undefined),
    Date.now,
    connect,
  );
}

const sha = (chunks: Buffer[]) => createHash("sha256").update(Buffer.concat(chunks)).digest("hex");

describe("the tunnel's copy", () => {
  it("keeps every byte in order both ways, those read before the hand-over first", async () => {
    // The target echoes, and after the client's end says `bye` and ends (half-close).
    const target = await listen((socket) => {
      socket.pipe(socket, { end: false });
      socket.once("end", () => socket.end("bye"));
    });
    const port = await gateway(registryWith(), target);
    const sent = [randomBytes(100), ...Array.from({ length: 64 }, () => randomBytes(65_537))];
    const client = connect({ port, host: "127.0.0.1" });
    const received: Buffer[] = [];
    client.on("data", (chunk: Buffer) => received.push(chunk));
    const ended = new Promise<void>((resolve) => client.once("end", resolve));
    // The first piece alone, the rest while the gateway holds them unread.
    client.write(sent[0] ?? Buffer.alloc(0));
    await new Promise((resolve) => setTimeout(resolve, 10));
    for (const chunk of sent.slice(1)) client.write(chunk);
    client.end();
    await ended;
    const all = Buffer.concat(received);
    expect(all.subarray(all.length - 3).toString()).toBe("bye");
    expect(sha([all.subarray(0, all.length - 3)])).toBe(sha(sent));
    client.destroy();
  });

  it("holds one read buffer at most while the target stops reading, then delivers it all", async () => {
    let targetSide: Socket | undefined;
    const received: Buffer[] = [];
    const target = await listen((socket) => {
      targetSide = socket;
      socket.pause();
      socket.on("data", (chunk: Buffer) => received.push(chunk));
    });
    const gatewaySides: Socket[] = [];
    const registry = registryWith((to, onread) => {
      const socket = connect({ ...to, allowHalfOpen: true, noDelay: true, onread });
      gatewaySides.push(socket);
      return socket;
    });
    const port = await gateway(registry, target, 0);
    const sent = Array.from({ length: 512 }, () => randomBytes(64 * 1024));
    const client = connect({ port, host: "127.0.0.1" });
    for (const chunk of sent) client.write(chunk);
    // The flow stops once the kernel's buffers are full: the client still holds bytes.
    let last = -1;
    await waitFor(
      "the client's writes to stall",
      () => {
        const now = client.writableLength;
        const still = now === last && now > 0;
        last = now;
        return still;
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    expect(gatewaySides).toHaveLength(1);
    expect(gatewaySides[0]?.writableLength ?? Infinity).toBeLessThanOrEqual(READ_BUFFER_BYTES);
    targetSide?.resume();
    const total = sent.length * 64 * 1024;
    await waitFor(
      "every byte at the target",
      () => received.reduce((n, chunk) => n + chunk.length, 0) >= total,
      {
        timeoutMs: 10_000,
      },
    );
    expect(sha(received)).toBe(sha(sent));
    client.destroy();
  });

  it("moves an accepted plain TCP socket onto the reused buffer", async () => {
    // Node's internals could change under adoptSocket: then tunnels would fall back to
    // pipe() and its per-read allocation without a word. This says so at once.
    const reads: string[] = [];
    let adopted: ReturnType<typeof adoptSocket>;
    let accepted = false;
    const port = await listen((socket) => {
      accepted = true;
      const buffer = Buffer.alloc(READ_BUFFER_BYTES);
      adopted = adoptSocket(socket, {
        buffer,
        callback: (bytes) => {
          reads.push(buffer.subarray(0, bytes).toString());
          return true;
        },
      });
    });
    const client = connect({ port, host: "127.0.0.1" });
    await waitFor("the connection", () => accepted);
    expect(adopted).toBeDefined();
    client.write("hello");
    await waitFor("the read", () => reads.join("") === "hello");
    expect(adopted?.socket.remotePort).toBe(client.localPort);
    client.destroy();
    adopted?.socket.destroy();
  });

  it("leaves TLS and WebSocket streams to the usual reads", () => {
    const onread = copyReads(
      () => new PassThrough(),
      () => new PassThrough(),
      () => undefined,
    );
    expect(adoptSocket(new PassThrough(), onread)).toBeUndefined();
    const tls = new TLSSocket(new PassThrough());
    expect(adoptSocket(tls, onread)).toBeUndefined();
    tls.destroy();
  });
});
