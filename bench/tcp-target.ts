/**
 * The service behind the tunnel in the tunnel benchmark (section 9): a TCP server that
 * both direct and tunnelled connections reach. Every connection starts with one line
 * that says what it wants; the line begins with `SSH-` so the gateway's peek routes it
 * to the `ssh: true` door, as it would a real SSH client:
 * - `SSH-2.0-wkbench sink N\r\n`: read N bytes, then answer `done\n` (bulk upload);
 * - `SSH-2.0-wkbench echo\r\n`: echo every byte back (round trips).
 */
import { createServer, type Socket } from "node:net";
import { adoptSocket } from "../src/tunnel/pump.js";

const LINE = /^SSH-2\.0-wkbench (sink (\d+)|echo)\r\n/;

/** Handles one connection by the protocol above; closes it on anything else. */
function serve(socket: Socket): void {
  let head = Buffer.alloc(0);
  socket.on("error", () => socket.destroy());
  const onHead = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf("\n");
    if (end === -1) {
      if (head.length > 256) socket.destroy();
      return;
    }
    socket.off("data", onHead);
    const match = LINE.exec(head.subarray(0, end + 1).toString("latin1"));
    const rest = head.subarray(end + 1);
    if (match === null) {
      socket.destroy();
    } else if (match[2] === undefined) {
      if (rest.length > 0) socket.write(rest);
      socket.pipe(socket);
    } else {
      sink(socket, Number(match[2]) - rest.length);
    }
  };
  socket.on("data", onHead);
}

/**
 * Reads `left` more bytes into one reused buffer (as the gateway's tunnel does), then
 * answers `done`: a service that never makes the copy in front of it look fast by being
 * slow itself (a pipe()-style read allocates per read, and its speed varies with GC).
 */
function sink(socket: Socket, left: number): void {
  const done = () => {
    if (left <= 0) reader.write("done\n");
  };
  const buffer = Buffer.allocUnsafe(64 * 1024);
  const adopted = adoptSocket(socket, {
    buffer,
    callback: (bytes) => {
      left -= bytes;
      done();
      return true;
    },
  });
  if (adopted === undefined) throw new Error("the sink expects a plain TCP socket");
  const reader = adopted.socket;
  reader.on("error", () => reader.destroy());
  for (const chunk of adopted.pending) left -= chunk.length;
  done();
}

/** Listens on 127.0.0.1:`port` with Nagle off (as the gateway's own sockets are). */
export function startTcpTarget(port: number): Promise<string> {
  const server = createServer({ noDelay: true }, serve);
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      resolve(`127.0.0.1:${port}`);
    });
  });
}
