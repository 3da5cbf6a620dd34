import { connect } from "node:net";

/** A raw HTTP/1.1 response as bytes, split into head and body. */
export interface RawResponse {
  readonly statusLine: string;
  /** Header lines in wire order, `Date` removed (it is the one line allowed to differ). */
  readonly headerLines: readonly string[];
  readonly body: string;
}

/**
 * Sends one request over a fresh socket and returns the response exactly as it came
 * over the wire, so tests can compare header order and bytes, not a parsed view.
 */
export function rawRequest(port: number, request: string, timeoutMs = 3000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("raw request timed out"));
    }, timeoutMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const [statusLine = "", ...headers] = text.slice(0, split).split("\r\n");
      resolve({
        statusLine,
        headerLines: headers.filter((h) => !/^date:/i.test(h)),
        body: text.slice(split + 4),
      });
    });
    socket.write(request);
  });
}

/** A minimal request that closes the connection when answered. */
export function httpRequest(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body = "",
): string {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: gateway.test", "Connection: close"];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== "") lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

/** What a client sees within a fixed window after sending some bytes on a fresh socket. */
export interface Probe {
  /** Everything that arrived within the window, as latin1, with the `Date` line removed. */
  readonly text: string;
  /** "immediate" when the first byte came within the window, "waits" when none came. */
  readonly timing: "immediate" | "waits";
}

/**
 * Sends `data` (which may be an unfinished request: a partial body, headers without their
 * end) and records what comes back within `windowMs` or until the server closes, then
 * closes the socket. Bounded in time whatever the server does.
 */
export function probe(port: number, data: string, windowMs = 1000): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks)
        .toString("latin1")
        .replace(/\r\ndate: [^\r]*/i, "");
      resolve({ text, timing: chunks.length > 0 ? "immediate" : "waits" });
    };
    const timer = setTimeout(finish, windowMs);
    socket.on("data", (chunk) => chunks.push(chunk));
    // A server that closes after answering ends the probe early.
    socket.on("close", finish);
    socket.on("error", finish);
    socket.on("connect", () => socket.write(data));
  });
}
