/**
 * How a tunnel copies bytes: each direction reads into one buffer it keeps for the
 * tunnel's life, instead of letting node allocate a fresh 64 KiB buffer per read.
 *
 * Why: a stream `pipe()` allocates every read. At hundreds of MB/s that external memory
 * makes V8 run a full mark-compact every 100-200 ms, whose cost grows with the gateway's
 * heap; measured on loopback, a relay copying this way moved about 1.8x the bytes of a
 * `pipe()` relay for less than half the CPU (docs/performance.md, 9.tunnel).
 */
import { Socket, type OnReadOpts } from "node:net";
import type { Duplex, Readable, Writable } from "node:stream";
import { TLSSocket } from "node:tls";

/** Bytes each direction reads at a time: node's own read size. */
export const READ_BUFFER_BYTES = 64 * 1024;

/**
 * An `onread` for `source`: each read lands in one reused buffer and is written to
 * `sink()`. Node writes a Buffer without copying it, so when a write does not finish at
 * once, reading stops until it has: at most one buffer is in flight each way, which is
 * the backpressure, and the buffer is never refilled under a write still using it.
 * (A write that finishes at once has consumed its bytes: true of sockets, TLS and ws.)
 */
export function copyReads(
  source: () => Readable,
  sink: () => Writable,
  counted: (bytes: number) => void,
): OnReadOpts {
  const buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  return {
    buffer,
    callback(bytes: number): boolean {
      counted(bytes);
      const into = sink();
      let held = false;
      into.write(buffer.subarray(0, bytes), () => {
        if (held) source().resume();
      });
      held = into.writableLength > 0;
      return !held;
    },
  };
}

/** The parts of node's TCP handle this module touches. */
interface StreamHandle {
  reading: boolean;
  readStop(): number;
}

/** A plain TCP socket moved onto a reused read buffer, and what it had read unclaimed. */
export interface Adopted {
  readonly socket: Socket;
  /** Bytes the old socket had read that nobody took yet: they come first. */
  readonly pending: Buffer[];
}

/**
 * Moves an accepted plain TCP connection into a new Socket that reads by `onread`
 * (net.Server has no such option for the sockets it accepts). The kernel connection,
 * its options (no Nagle, half-open) and every byte are kept: reading stops, the bytes the
 * old socket buffered are returned as `pending`, and the new socket takes the handle.
 * Returns undefined, leaving `client` as it was, for anything but an open plain TCP
 * socket (TLS and WebSocket streams keep reading the usual way).
 */
export function adoptSocket(client: Duplex, onread: OnReadOpts): Adopted | undefined {
  if (!(client instanceof Socket) || client instanceof TLSSocket || client.destroyed) {
    return undefined;
  }
  const owner = client as unknown as { _handle: StreamHandle | null };
  const handle = owner._handle;
  if (handle === null || typeof handle.readStop !== "function") return undefined;
  handle.readStop();
  handle.reading = false;
  // Without its handle the old socket can neither read more nor close the connection.
  owner._handle = null;
  const pending: Buffer[] = [];
  for (let chunk: unknown = client.read(); Buffer.isBuffer(chunk); chunk = client.read()) {
    pending.push(chunk);
  }
  const options = { handle, allowHalfOpen: client.allowHalfOpen, onread };
  const socket = new Socket(options);
  // Releases the old object: its 'close' tells the router the connection left its hands.
  client.destroy();
  return { socket, pending };
}

/** Both ends of a tunnel's copy. */
export interface CopyEnds {
  /** The client's stream: the one given, or the socket that took over its connection. */
  readonly client: Duplex;
  readonly target: Socket;
}

/** Called with the size of each chunk copied, per direction (up: client to target). */
export interface CopyCounters {
  readonly up: (bytes: number) => void;
  readonly down: (bytes: number) => void;
}

/**
 * Connects to the target and copies both ways with backpressure: the target's reads and
 * a plain TCP client's through reused buffers, a TLS or WebSocket client's through
 * pipe(). `preamble` (a PROXY header) reaches the target before any client byte; a side
 * that ends ends the other's writable half (half-close passes through).
 */
export function startCopy(
  client: Duplex,
  connect: (onread: OnReadOpts) => Socket,
  counted: CopyCounters,
  preamble?: Buffer,
): CopyEnds {
  const target = connect(
    copyReads(
      () => target,
      () => ends.client,
      counted.down,
    ),
  );
  if (preamble !== undefined) target.write(preamble);
  const adopted = adoptSocket(
    client,
    copyReads(
      () => ends.client,
      () => target,
      counted.up,
    ),
  );
  const ends: CopyEnds = { client: adopted?.socket ?? client, target };
  target.once("end", () => ends.client.end());
  if (adopted === undefined) {
    client.on("data", (chunk: Buffer) => {
      counted.up(chunk.length);
    });
    client.pipe(target);
  } else {
    for (const chunk of adopted.pending) {
      counted.up(chunk.length);
      target.write(chunk);
    }
    adopted.socket.once("end", () => target.end());
  }
  return ends;
}
