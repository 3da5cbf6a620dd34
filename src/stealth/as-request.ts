import { ServerResponse, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";

/**
 * Answers an upgrade request as the plain request it is to a server that takes no
 * upgrades (nginx without a proxy): through the server's own 'request' handler, then, if
 * that answer kept the connection alive, hands the socket back to the server for its
 * next request, as nginx does. Used once a listener has an 'upgrade' listener (the
 * WebSocket tunnel route) for every upgrade it declines, so a stranger's upgrade request
 * gets nginx's bytes. A `Content-Length` body is skipped (the handler sees none); after a
 * chunked one (rare on an upgrade) the connection is closed, where nginx keeps it.
 */
export function answerAsRequest(
  server: Server,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  // node:http's 'upgrade' event hands a net.Socket (or a TLSSocket) typed as a Duplex.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  const raw: Socket = socket as Socket;
  const res = new ServerResponse(req);
  res.shouldKeepAlive = keepsAlive(req);
  res.assignSocket(raw);
  const chunked = req.headers["transfer-encoding"] !== undefined;
  const declared = Number(req.headers["content-length"] ?? 0);
  let remaining = !chunked && Number.isSafeInteger(declared) && declared > 0 ? declared : 0;
  let rest: Buffer | undefined;
  let answered = false;
  const next = () => {
    if (rest === undefined || !answered) return;
    // `_last`: node:http's own "close after this response" flag (Connection: close sent).
    if ((res as unknown as { _last?: boolean })._last === true || !socket.writable) {
      socket.end();
      return;
    }
    if (chunked) {
      // nginx would skip the body and keep the connection; nothing here could close an
      // idling socket at shutdown (its parser is gone), so it is closed now.
      socket.end();
      return;
    }
    if (rest.length > 0) socket.unshift(rest);
    (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    // An https server parses HTTP on 'secureConnection' (its TLS is already done).
    server.emit(socket instanceof TLSSocket ? "secureConnection" : "connection", socket);
  };
  // node:http ended the request (no body) before the 'upgrade' event: a body, if any,
  // is read off the socket here and dropped, as nginx drops the body of a 404.
  const skip = (chunk: Buffer) => {
    const part = Math.min(chunk.length, remaining);
    remaining -= part;
    if (remaining > 0) return;
    socket.off("data", skip);
    socket.pause();
    rest = chunk.subarray(part);
    next();
  };
  if (remaining > 0) socket.on("data", skip);
  skip(head);
  res.once("finish", () => {
    res.detachSocket(raw);
    answered = true;
    next();
  });
  server.emit("request", req, res);
}

/** node:http's keep-alive rule: HTTP/1.1 unless `Connection: close`; 1.0 only with keep-alive. */
function keepsAlive(req: IncomingMessage): boolean {
  const connection = (req.headers.connection ?? "").toLowerCase();
  if (req.httpVersionMajor !== 1) return false;
  if (req.httpVersionMinor >= 1) return !/(^|,)\s*close\s*(,|$)/.test(connection);
  return /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
}
