import { connect, createServer, type AddressInfo, type Socket } from "node:net";

/** One chunk the proxy forwarded: which way, when it arrived, when it was passed on. */
export interface ProxyChunk {
  /** The connection it belongs to, numbered from 1 in accept order. */
  readonly connection: number;
  readonly direction: "up" | "down";
  /** performance.now() at arrival and at forwarding (arrival + the delay). */
  readonly arrived: number;
  readonly forwarded: number;
  readonly bytes: Buffer;
}

/** A running delay proxy. */
export interface DelayProxy {
  readonly port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** Every chunk of every connection, in arrival order. */
  readonly chunks: ProxyChunk[];
  close(): Promise<void>;
}

/**
 * A userspace stand-in for `tc netem delay` (which these kernels lack, see NOTES.md): a
 * TCP proxy on 127.0.0.1 that forwards each chunk `delayMs` after it arrived, in each
 * direction, in order. A round trip through it costs 2 x delayMs, so a client's time to
 * open divided by that is its number of round trips. The TCP handshake is modelled too:
 * the client's connect completes at once on loopback, so its first bytes are held for
 * 2 x delayMs (the SYN and SYN-ACK it would have waited for) before their own delay.
 * Bounded: a test or benchmark tool for small exchanges; it does not pace large flows.
 */
export async function startDelayProxy(targetPort: number, delayMs: number): Promise<DelayProxy> {
  const chunks: ProxyChunk[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((client) => {
    const connection = ++accepted;
    sockets.add(client);
    client.setNoDelay(true);
    const upstream = connect(targetPort, "127.0.0.1");
    upstream.setNoDelay(true);
    sockets.add(upstream);
    const relay = (from: Socket, to: Socket, direction: "up" | "down") => {
      from.on("data", (bytes: Buffer) => {
        const arrived = performance.now();
        setTimeout(() => {
          chunks.push({ connection, direction, arrived, forwarded: performance.now(), bytes });
          if (!to.destroyed) to.write(bytes);
        }, delayMs);
      });
      from.on("end", () => setTimeout(() => to.end(), delayMs));
      from.on("error", () => to.destroy());
      from.on("close", () => {
        sockets.delete(from);
        setTimeout(() => to.destroy(), delayMs + 5);
      });
    };
    // The handshake costs a round trip on a delayed link: nothing the client sends can
    // leave before its SYN-ACK would have come back.
    client.pause();
    setTimeout(() => {
      client.resume();
    }, 2 * delayMs);
    relay(client, upstream, "up");
    relay(upstream, client, "down");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => accepted,
    chunks,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/**
 * Round trips in a capture, counted the way NOTES.md suggests (timing plays no part): per
 * connection, one for the TCP handshake plus one per flight of client bytes that waited
 * for an answer (the first flight, and each one sent after the server had answered).
 * Connections are summed, as sequential ones are; this over-counts parallel ones.
 */
export function countRoundTrips(chunks: readonly ProxyChunk[]): number {
  let total = 0;
  const answered = new Map<number, boolean>();
  for (const chunk of chunks) {
    const seen = answered.get(chunk.connection);
    if (chunk.direction === "down") {
      answered.set(chunk.connection, true);
    } else if (seen === undefined) {
      total += 2; // the handshake and this first flight
      answered.set(chunk.connection, false);
    } else if (seen) {
      total += 1;
      answered.set(chunk.connection, false);
    }
  }
  return total;
}
