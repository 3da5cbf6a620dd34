import { request as httpRequest, createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { currentTotp } from "../../src/knock/totp.js";
import { createLogger, type Logger } from "../../src/log.js";
import { ALICE_SECRET, LAST, SEQUENCE } from "../support/gateway.js";

/** A real loopback listener over a request handler. */
export interface Listening {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves `handler` on 127.0.0.1 on a free port. */
export async function listen(handler: RequestListener): Promise<Listening> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

/** A response as node:http parsed it, with raw header order kept. */
export interface Reply {
  readonly status: number;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** One request over a fresh connection (no keep-alive), for any method, headers and body. */
export function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string | Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: "127.0.0.1", port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          resolve({
            status: res.statusCode ?? 0,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString("utf8"),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Knocks as `ip` (via X-Forwarded-For; the test gateways trust loopback). */
export function knocker(port: () => number, ip: string) {
  const headers = { "X-Forwarded-For": ip, Accept: "application/json" };
  return {
    get: (path: string) => send(port(), "GET", path, headers),
    /** Walks the door's sequence; returns the challenge, or undefined if the last step was a decoy. */
    async walk(sequence: readonly string[] = SEQUENCE): Promise<string | undefined> {
      for (const path of sequence.slice(0, -1)) await send(port(), "GET", path, headers);
      const last = await send(port(), "GET", sequence[sequence.length - 1] ?? "/", headers);
      if (last.status !== 200) return undefined;
      return (JSON.parse(last.body) as { challenge: string }).challenge;
    },
    async redeem(
      challenge: string,
      fields: { user?: string; code?: unknown; path?: string } = {},
    ): Promise<Reply> {
      const code = "code" in fields ? fields.code : await currentTotp(ALICE_SECRET, Date.now());
      return send(
        port(),
        "POST",
        fields.path ?? LAST,
        { ...headers, "Content-Type": "application/json" },
        JSON.stringify({ challenge, user: fields.user ?? "alice", code }),
      );
    },
  };
}

/** A pino logger writing into memory; `events()` parses what was logged. */
export function captureLog(): {
  log: Logger;
  lines: string[];
  events(): Record<string, unknown>[];
} {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  const log = createLogger({ level: "debug", destination });
  return {
    log,
    lines,
    events: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

/** A wrong but well-formed code: the current one with its last digit changed. */
export async function wrongCode(secret = ALICE_SECRET): Promise<string> {
  const code = await currentTotp(secret, Date.now());
  return `${code.slice(0, 5)}${String((Number(code[5]) + 5) % 10)}`;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
