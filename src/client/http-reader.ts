/**
 * A small, bounded HTTP/1.1 response parser for the knock client's pipelined requests and
 * for a proxy's answer to CONNECT. It only has to read what a gateway (or a proxy) sends:
 * a status line, headers, and a body framed by Content-Length, chunked encoding or the
 * close of the connection. Everything is capped, so a hostile peer costs bounded memory.
 */

/** One response head: status line and headers (names lower-cased, last value wins). */
export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly headers: ReadonlyMap<string, string>;
}

/** A complete response. */
export interface ParsedResponse extends ResponseHead {
  readonly body: Buffer;
}

/** The peer sent something that is not an HTTP/1.x response, or too much of it. */
export class HttpParseError extends Error {}

/** Limits per response; the gateway's answers are small, a proxy's head is smaller. */
export interface ReaderLimits {
  /** Status line plus headers, bytes. */
  readonly maxHeadBytes: number;
  /** Body, bytes (after de-chunking). */
  readonly maxBodyBytes: number;
}

/** nginx's default large_client_header_buffers is 8 KB; twice that is ample for a response. */
export const DEFAULT_LIMITS: ReaderLimits = { maxHeadBytes: 16 * 1024, maxBodyBytes: 64 * 1024 };

const CRLF2 = Buffer.from("\r\n\r\n");

/**
 * Parses a response head at the start of `buffer`. Returns the head and its length in
 * bytes, or undefined while the blank line has not arrived; throws HttpParseError past
 * `maxHeadBytes` or on a malformed status line or header.
 */
export function parseHead(
  buffer: Buffer,
  maxHeadBytes: number,
): { readonly head: ResponseHead; readonly length: number } | undefined {
  const end = buffer.indexOf(CRLF2);
  if (end === -1 || end + 4 > maxHeadBytes) {
    if (buffer.length >= maxHeadBytes || (end !== -1 && end + 4 > maxHeadBytes))
      throw new HttpParseError(`The response head is longer than ${maxHeadBytes} bytes.`);
    return undefined;
  }
  const lines = buffer.subarray(0, end).toString("latin1").split("\r\n");
  const statusLine = lines[0] ?? "";
  const match = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: (.*))?$/.exec(statusLine);
  if (match === null)
    throw new HttpParseError(
      `Expected an HTTP/1.1 status line, got ${JSON.stringify(statusLine.slice(0, 80))}.`,
    );
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0)
      throw new HttpParseError(`Malformed header line ${JSON.stringify(line.slice(0, 80))}.`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return {
    head: { status: Number(match[1]), reason: match[2] ?? "", headers },
    length: end + 4,
  };
}

type BodyState =
  | { readonly kind: "length"; remaining: number }
  | {
      readonly kind: "chunked";
      phase: "size" | "data" | "data-crlf" | "trailer";
      remaining: number;
    }
  | { readonly kind: "close" };

/**
 * Incremental reader for responses arriving in order on one connection. `push` each
 * chunk the socket delivers; it returns the responses completed by it. Interim (1xx)
 * responses are skipped. `end` at EOF completes a body framed by the close.
 */
export class ResponseReader {
  private buffer: Buffer = Buffer.alloc(0);
  private head: ResponseHead | undefined;
  private body: BodyState | undefined;
  private parts: Buffer[] = [];
  private bodySize = 0;

  constructor(private readonly limits: ReaderLimits = DEFAULT_LIMITS) {}

  /** True when no response is partly read (a clean point to close or reuse the connection). */
  get idle(): boolean {
    return this.head === undefined && this.buffer.length === 0;
  }

  /** Feeds bytes; returns every response they complete, in order. */
  push(chunk: Buffer): ParsedResponse[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const done: ParsedResponse[] = [];
    for (;;) {
      if (this.head === undefined && !this.readHead()) return done;
      const response = this.readBody();
      if (response === undefined) return done;
      done.push(response);
    }
  }

  /** The connection closed: completes a body that runs to the close, else fails if mid-response. */
  end(): ParsedResponse[] {
    if (this.head !== undefined && this.body?.kind === "close") {
      const response = this.finish();
      return [response];
    }
    if (!this.idle) throw new HttpParseError("The connection closed in the middle of a response.");
    return [];
  }

  private readHead(): boolean {
    const parsed = parseHead(this.buffer, this.limits.maxHeadBytes);
    if (parsed === undefined) return false;
    this.buffer = this.buffer.subarray(parsed.length);
    const { head } = parsed;
    if (head.status < 200) return this.buffer.length > 0 && this.readHead(); // interim: skip
    this.head = head;
    this.body = bodyState(head);
    return true;
  }

  private readBody(): ParsedResponse | undefined {
    const body = this.body;
    if (body === undefined) return undefined;
    if (body.kind === "close") {
      this.take(this.buffer.length);
      return undefined;
    }
    if (body.kind === "length") {
      const n = Math.min(body.remaining, this.buffer.length);
      this.take(n);
      body.remaining -= n;
      return body.remaining === 0 ? this.finish() : undefined;
    }
    return this.readChunked(body);
  }

  private readChunked(body: Extract<BodyState, { kind: "chunked" }>): ParsedResponse | undefined {
    for (;;) {
      if (body.phase === "data") {
        const n = Math.min(body.remaining, this.buffer.length);
        this.take(n);
        body.remaining -= n;
        if (body.remaining > 0) return undefined;
        body.phase = "data-crlf";
      }
      const eol = this.buffer.indexOf("\r\n");
      if (eol === -1) {
        if (this.buffer.length > 1024) throw new HttpParseError("A chunk line is too long.");
        return undefined;
      }
      const line = this.buffer.subarray(0, eol).toString("latin1");
      this.buffer = this.buffer.subarray(eol + 2);
      if (body.phase === "data-crlf") {
        if (line !== "") throw new HttpParseError("A chunk is not followed by CRLF.");
        body.phase = "size";
      } else if (body.phase === "size") {
        const size = /^([0-9a-fA-F]{1,8})(;.*)?$/.exec(line);
        if (size === null)
          throw new HttpParseError(`Bad chunk size ${JSON.stringify(line.slice(0, 20))}.`);
        body.remaining = parseInt(size[1] ?? "0", 16);
        body.phase = body.remaining === 0 ? "trailer" : "data";
      } else if (line === "") {
        return this.finish(); // the blank line after the (ignored) trailer
      }
    }
  }

  /** Moves `n` buffered bytes into the body, within the body limit. */
  private take(n: number): void {
    if (n === 0) return;
    this.bodySize += n;
    if (this.bodySize > this.limits.maxBodyBytes)
      throw new HttpParseError(
        `The response body is larger than ${this.limits.maxBodyBytes} bytes.`,
      );
    this.parts.push(this.buffer.subarray(0, n));
    this.buffer = this.buffer.subarray(n);
  }

  private finish(): ParsedResponse {
    const head = this.head;
    if (head === undefined) throw new HttpParseError("No response head.");
    const response = { ...head, body: Buffer.concat(this.parts) };
    this.head = undefined;
    this.body = undefined;
    this.parts = [];
    this.bodySize = 0;
    return response;
  }
}

/** How the body of a response to GET or POST is framed (RFC 9112 section 6.3). */
function bodyState(head: ResponseHead): BodyState {
  if (head.status === 204 || head.status === 304) return { kind: "length", remaining: 0 };
  const encoding = head.headers.get("transfer-encoding");
  if (encoding !== undefined) {
    if (!/(^|,)\s*chunked\s*$/i.test(encoding)) return { kind: "close" };
    return { kind: "chunked", phase: "size", remaining: 0 };
  }
  const length = head.headers.get("content-length");
  if (length === undefined) return { kind: "close" };
  if (!/^[0-9]{1,12}$/.test(length))
    throw new HttpParseError(`Bad Content-Length ${JSON.stringify(length.slice(0, 20))}.`);
  return { kind: "length", remaining: Number(length) };
}
