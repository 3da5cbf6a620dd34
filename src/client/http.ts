import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { WebknockError } from "../errors.js";

/** A finished HTTP exchange, body as text (capped). */
export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

/** Why a request never got an answer. */
export type TransportFailure = "unreachable" | "tls";

/** Stable code and fix per transport failure; the knock and admin clients reuse the fixes. */
export const TRANSPORT: Readonly<Record<TransportFailure, { code: string; fix: string }>> = {
  unreachable: {
    code: "ERR_UNREACHABLE",
    fix: "Check the URL and port, and that the gateway is running and reachable from here.",
  },
  tls: {
    code: "ERR_TLS",
    fix: "If the gateway uses a self-signed certificate you trust, pass --insecure.",
  },
};

/** The request could not be completed; `failure` says whether the TLS handshake was the cause. */
export class TransportError extends WebknockError {
  constructor(
    readonly failure: TransportFailure,
    message: string,
    options?: ErrorOptions & { readonly fix?: string },
  ) {
    super(TRANSPORT[failure].code, message, {
      ...options,
      fix: options?.fix ?? TRANSPORT[failure].fix,
    });
  }
}

/** The gateway's answers are tiny; anything bigger is not the gateway. */
const MAX_BODY_BYTES = 64 * 1024;

/** Certificate problems Node reports by code; anything else is a network failure. */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|EPROTO/;

/** Options shared by every request of one knock. */
export interface HttpClientOptions {
  /** Accept self-signed or otherwise unverifiable certificates (see docs/usage.md). */
  readonly insecure?: boolean;
  /** Per-request limit, connect to last byte. */
  readonly timeoutMs: number;
}

/**
 * A small keep-alive HTTP(S) client over node:http, so one knock reuses one connection
 * (the gateway sees one source address) and `--insecure` can apply to this client only.
 */
export class HttpClient {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  private readonly https: HttpsAgent;

  constructor(private readonly options: HttpClientOptions) {
    this.https = new HttpsAgent({
      keepAlive: true,
      maxSockets: 1,
      rejectUnauthorized: options.insecure !== true,
    });
  }

  /** Sends one request; rejects with TransportError when no response arrives. */
  send(
    method: "GET" | "POST" | "DELETE",
    url: URL,
    headers: Readonly<Record<string, string>>,
    body?: string,
  ): Promise<HttpResponse> {
    const secure = url.protocol === "https:";
    const send = secure ? httpsRequest : httpRequest;
    return new Promise<HttpResponse>((resolve, reject) => {
      const req = send(
        url,
        {
          method,
          headers: {
            ...headers,
            ...(body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) }),
          },
          agent: secure ? this.https : this.http,
          timeout: this.options.timeoutMs,
        },
        (res) => {
          readBody(res).then(resolve, reject);
        },
      );
      req.on("timeout", () => {
        req.destroy(
          new TransportError(
            "unreachable",
            `No answer from ${url.host} within ${this.options.timeoutMs} ms.`,
          ),
        );
      });
      req.on("error", (error: NodeJS.ErrnoException) => {
        reject(error instanceof TransportError ? error : describe(error, url));
      });
      req.end(body);
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function readBody(res: IncomingMessage): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new TransportError("unreachable", "The answer was too large for the gateway."));
        return;
      }
      chunks.push(chunk);
    });
    res.on("error", reject);
    res.on("end", () => {
      resolve({
        status: res.statusCode ?? 0,
        contentType: res.headers["content-type"] ?? "",
        body: Buffer.concat(chunks).toString("utf8"),
      });
    });
  });
}

function describe(error: NodeJS.ErrnoException, url: URL): TransportError {
  const code = error.code ?? "";
  if (TLS_CODES.test(code)) {
    return new TransportError(
      "tls",
      `TLS with ${url.host} failed (${code}: ${error.message}). If the gateway uses a self-signed certificate you trust, pass --insecure.`,
      { cause: error },
    );
  }
  return new TransportError("unreachable", `Cannot reach ${url.host} (${code || error.message}).`, {
    cause: error,
  });
}
