import { ServerResponse, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";

/**
 * Answers an upgrade request as the plain request it is to a server that takes no
 * upgrades (nginx without a proxy): through the server's own 'request' handler, then, if
 * that answer kept the connection alive, hands the socket back to the server for its
 * next request, as node:http does when no 'upgrade' listener exists. Used once a listener
 * has an 'upgrade' listener (the WebSocket tunnel route) for every upgrade it declines,
 * so a stranger's upgrade request gets the very bytes it got before.
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
  // The parser was freed before the 'upgrade' event: the request has no body to come.
  if (!req.complete) req.push(null);
  res.once("finish", () => {
    res.detachSocket(raw);
    // `_last`: node:http's own "close after this response" flag (Connection: close sent).
    if ((res as unknown as { _last?: boolean })._last === true || !socket.writable) {
      socket.end();
      return;
    }
    if (head.length > 0) socket.unshift(head);
    // An https server parses HTTP on 'secureConnection' (its TLS is already done).
    server.emit(socket instanceof TLSSocket ? "secureConnection" : "connection", socket);
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
