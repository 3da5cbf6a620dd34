import type { Socket } from "node:net";
import { openStream } from "./connect.js";
import { HttpParseError, ResponseReader, type ParsedResponse } from "./http-reader.js";
import { TransportError } from "./http.js";

/** One request of a pipelined batch; the URL's origin is the connection's. */
export interface PipelinedRequest {
  readonly method: "GET" | "POST";
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** How to open the connection. */
export interface ConnectionOptions {
  readonly insecure?: boolean | undefined;
  /** Bounds the connect (TCP, proxy, TLS) and then each batch, first byte out to last in. */
  readonly timeoutMs: number;
  /** A CONNECT proxy (proxyFor), or undefined for a direct connection. */
  readonly proxy?: URL | undefined;
}

/**
 * One keep-alive HTTP/1.1 connection to the gateway that sends a batch of requests in one
 * write and reads their answers in order (RFC 9112 section 9.3.2, pipelining). A knock's
 * GETs are all in flight at once, so it costs one round trip whatever the sequence length.
 */
export class PipelinedConnection {
  private readonly reader = new ResponseReader();
  private readonly answers: ParsedResponse[] = [];
  private failure: Error | undefined;
  private ended = false;
  private closeAfter = false;
  private wake: (() => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly origin: string,
    private readonly timeoutMs: number,
  ) {
    socket.on("data", (chunk: Buffer) => {
      this.guard(() => this.answers.push(...this.reader.push(chunk)));
    });
    socket.on("end", () => {
      this.ended = true;
      this.guard(() => this.answers.push(...this.reader.end()));
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      this.fail(
        new TransportError(
          "unreachable",
          `The connection to ${origin} failed (${error.code ?? error.message}).`,
          {
            cause: error,
          },
        ),
      );
    });
    socket.on("close", () => {
      this.ended = true;
      this.notify();
    });
    socket.resume();
  }

  /** Connects to the gateway at `base` (http or https), directly or through the proxy. */
  static async open(base: URL, options: ConnectionOptions): Promise<PipelinedConnection> {
    const host = base.hostname.replace(/^\[|\]$/g, "");
    const secure = base.protocol === "https:";
    const socket = await openStream(
      { host, port: Number(base.port || (secure ? 443 : 80)) },
      {
        proxy: options.proxy,
        timeoutMs: options.timeoutMs,
        tls: secure
          ? {
              servername: host,
              identities: [host],
              insecure: options.insecure === true,
              alpn: ["http/1.1"],
            }
          : undefined,
      },
    );
    return new PipelinedConnection(socket, base.origin, options.timeoutMs);
  }

  /** False once the gateway said `Connection: close` or closed: open a new one to go on. */
  get reusable(): boolean {
    return !this.ended && !this.closeAfter && this.failure === undefined && !this.socket.destroyed;
  }

  /**
   * Writes every request at once, then resolves with their answers in order. Rejects with
   * a TransportError when the connection fails, closes early or the batch takes longer
   * than the timeout.
   */
  async send(requests: readonly PipelinedRequest[]): Promise<ParsedResponse[]> {
    if (!this.reusable)
      throw new TransportError("unreachable", `The connection to ${this.origin} is closed.`);
    this.answers.length = 0;
    this.socket.write(requests.map((r) => serialize(r)).join(""));
    const deadline = Date.now() + this.timeoutMs;
    while (this.answers.length < requests.length) {
      if (this.failure !== undefined) throw this.failure;
      if (this.ended)
        throw new TransportError(
          "unreachable",
          `${this.origin} closed the connection after ${this.answers.length} of ${requests.length} answers.`,
        );
      if (!(await this.waitForData(deadline - Date.now())))
        throw new TransportError(
          "unreachable",
          `No answer from ${this.origin} within ${this.timeoutMs} ms.`,
        );
    }
    const answers = this.answers.splice(0, requests.length);
    if (answers.some((a) => a.headers.get("connection")?.toLowerCase() === "close"))
      this.closeAfter = true;
    return answers;
  }

  /** Closes the connection. */
  close(): void {
    this.socket.destroy();
  }

  private waitForData(ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  private guard(read: () => void): void {
    try {
      read();
      this.notify();
    } catch (error) {
      if (!(error instanceof HttpParseError)) throw error;
      this.fail(
        new TransportError(
          "unreachable",
          `${this.origin} sent a malformed answer: ${error.message}`,
        ),
      );
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.socket.destroy();
    this.notify();
  }

  private notify(): void {
    this.wake?.();
  }
}

/** The request's bytes; header values are ours (no CR/LF can reach them). */
function serialize(request: PipelinedRequest): string {
  const { url } = request;
  const headers: Record<string, string> = { host: url.host, ...request.headers };
  if (request.body !== undefined)
    headers["content-length"] = String(Buffer.byteLength(request.body));
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\n${lines.join("\r\n")}\r\n\r\n${request.body ?? ""}`;
}
