import { connect as netConnect, isIP, type Socket } from "node:net";
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from "node:tls";
import { TransportError } from "./http.js";
import { connectRequest, readConnectResponse, type Endpoint } from "./proxy.js";

/** Certificate problems Node reports by code; anything else is a network failure. */
const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|EPROTO|ALTNAME/;

/** How to reach the gateway: directly or through a CONNECT proxy, in clear or TLS. */
export interface StreamOptions {
  /** An HTTP(S) proxy (from proxyFor): the stream is tunnelled through its CONNECT. */
  readonly proxy?: URL | undefined;
  /** TLS on top of the raw stream; absent for a plain http gateway. */
  readonly tls?: TlsOptions | undefined;
  /** Bound on everything up to a usable stream (TCP, CONNECT, TLS handshake). */
  readonly timeoutMs: number;
}

/** The TLS layer of a stream to the gateway. */
export interface TlsOptions {
  /** SNI sent in the ClientHello (omitted for an IP address, as TLS requires). */
  readonly servername: string;
  /**
   * Names the certificate may be valid for; one match is enough. A tunnel with SNI
   * `ssh.example.net` to `gw.example.net` accepts the listener's certificate (for the
   * gateway's name) or a per-door one (for the SNI name).
   */
  readonly identities: readonly string[];
  /** Accept any certificate (--insecure; see docs/usage.md). */
  readonly insecure: boolean;
  /** ALPN protocols to offer; the knock offers http/1.1 only, the SNI tunnel none. */
  readonly alpn?: readonly string[];
}

/**
 * Opens a byte stream to `target`: TCP, through the proxy's CONNECT when one is given,
 * then TLS when asked. Resolves once the stream is ready for application bytes (after
 * the handshake); rejects with a TransportError (`unreachable` or `tls`) naming what failed.
 */
export async function openStream(target: Endpoint, options: StreamOptions): Promise<Socket> {
  const deadline = Date.now() + options.timeoutMs;
  const proxy = options.proxy;
  let raw: Socket;
  if (proxy === undefined) {
    raw = await tcp(target, options.timeoutMs, `the gateway ${hostPort(target)}`);
  } else {
    const proxyEnd = {
      host: proxy.hostname.replace(/^\[|\]$/g, ""),
      port: Number(proxy.port || (proxy.protocol === "https:" ? 443 : 80)),
    };
    raw = await tcp(proxyEnd, options.timeoutMs, `the proxy ${proxy.host}`);
    if (proxy.protocol === "https:")
      raw = await handshake(
        raw,
        {
          servername: proxyEnd.host,
          identities: [proxyEnd.host],
          insecure: false,
        },
        remaining(deadline),
        `the proxy ${proxy.host}`,
      );
    raw.write(connectRequest(proxy, target));
    await within(
      readConnectResponse(raw, proxy),
      remaining(deadline),
      raw,
      `the proxy ${proxy.host} to answer CONNECT`,
    );
  }
  if (options.tls === undefined) return raw;
  return handshake(raw, options.tls, remaining(deadline), `the gateway ${hostPort(target)}`);
}

function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}

function hostPort(target: Endpoint): string {
  return `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
}

/** A TCP connection, or a TransportError after `timeoutMs`. */
function tcp(target: Endpoint, timeoutMs: number, what: string): Promise<Socket> {
  const socket = netConnect({ host: target.host, port: target.port });
  socket.setNoDelay(true);
  const connected = new Promise<Socket>((resolve, reject) => {
    socket.once("connect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        new TransportError(
          "unreachable",
          `Cannot reach ${what} (${error.code ?? error.message}).`,
          {
            cause: error,
          },
        ),
      );
    });
  });
  return within(connected, timeoutMs, socket, `${what} to accept the connection`);
}

/** Runs the TLS handshake over `raw`; certificate failures are `tls`, the rest `unreachable`. */
function handshake(
  raw: Socket,
  options: TlsOptions,
  timeoutMs: number,
  what: string,
): Promise<Socket> {
  const servername = isIP(options.servername) === 0 ? options.servername : undefined;
  const socket: TLSSocket = tlsConnect({
    socket: raw,
    ...(servername === undefined ? {} : { servername }),
    rejectUnauthorized: !options.insecure,
    ...(options.alpn === undefined ? {} : { ALPNProtocols: [...options.alpn] }),
    checkServerIdentity: (_host, cert) => {
      // Valid for any of the names we accept: the first error is reported otherwise.
      const errors = options.identities.map((name) => checkServerIdentity(name, cert));
      return errors.some((e) => e === undefined) ? undefined : errors[0];
    },
  });
  const ready = new Promise<Socket>((resolve, reject) => {
    socket.once("secureConnect", () => {
      socket.off("error", reject);
      resolve(socket);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      const code = error.code ?? "";
      reject(
        TLS_CODES.test(code)
          ? new TransportError("tls", `TLS with ${what} failed (${code}: ${error.message}).`, {
              cause: error,
            })
          : new TransportError(
              "unreachable",
              `TLS with ${what} failed (${code || error.message}).`,
              {
                cause: error,
              },
            ),
      );
    });
  });
  return within(ready, timeoutMs, socket, `the TLS handshake with ${what}`);
}

/** Resolves with `promise`, or destroys `socket` and rejects once `timeoutMs` has passed. */
function within<T>(
  promise: Promise<T>,
  timeoutMs: number,
  socket: Socket,
  what: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      socket.destroy();
      reject(
        new TransportError("unreachable", `Timed out after ${timeoutMs} ms waiting for ${what}.`),
      );
    }, timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => {
    clearTimeout(timer);
  });
}
