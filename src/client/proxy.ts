import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import { parseHead, type ResponseHead } from "./http-reader.js";
import { TransportError } from "./http.js";

/** Where a connection goes: a host name or address (no brackets) and a port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** A proxy's CONNECT answer head is a few lines; anything longer is not a proxy worth waiting for. */
export const MAX_CONNECT_HEAD_BYTES = 8 * 1024;

/**
 * The HTTP proxy to reach `target` through, from the environment as curl reads it:
 * `https_proxy`/`HTTPS_PROXY` for an https gateway, `http_proxy`/`HTTP_PROXY` for an http
 * one (lower case first), unless `no_proxy`/`NO_PROXY` names the host. The knock and the
 * tunnel both go through it with CONNECT, so a knock stays one connection and the
 * gateway sees one address (the proxy's) for the knock and for the tunnel.
 */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv): URL | undefined {
  const names =
    target.protocol === "https:" ? ["https_proxy", "HTTPS_PROXY"] : ["http_proxy", "HTTP_PROXY"];
  const value = names.map((name) => env[name]).find((v) => v !== undefined && v.trim() !== "");
  if (value === undefined) return undefined;
  if (bypassesProxy(target, env.no_proxy ?? env.NO_PROXY ?? "")) return undefined;
  let proxy: URL;
  try {
    proxy = new URL(value.includes("://") ? value : `http://${value}`);
  } catch {
    throw new TransportError("unreachable", `The proxy ${JSON.stringify(value)} is not a URL.`, {
      fix: "Set HTTPS_PROXY to http://host:port (or http://user:password@host:port).",
    });
  }
  if (proxy.protocol !== "http:" && proxy.protocol !== "https:")
    throw new TransportError(
      "unreachable",
      `The proxy ${proxy.origin} uses ${proxy.protocol}; only http:// and https:// proxies (HTTP CONNECT) are supported.`,
      { fix: "Set HTTPS_PROXY to an HTTP proxy, http://host:port." },
    );
  return proxy;
}

/**
 * True when NO_PROXY exempts the target: `*`, an exact host or address, or a domain
 * suffix (`example.net` and `.example.net` both match `gw.example.net`), each optionally
 * with `:port`. As with curl, loopback is proxied too unless NO_PROXY names it.
 */
export function bypassesProxy(target: URL, noProxy: string): boolean {
  const host = bare(target.hostname).toLowerCase();
  const port = target.port || (target.protocol === "https:" ? "443" : "80");
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    const { name, port: entryPort } = splitEntry(entry);
    if (entryPort !== undefined && entryPort !== port) continue;
    const suffix = name.startsWith(".") ? name.slice(1) : name;
    if (host === suffix || (isIP(host) === 0 && host.endsWith(`.${suffix}`))) return true;
  }
  return false;
}

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address. */
function splitEntry(entry: string): { readonly name: string; readonly port?: string } {
  if (entry.startsWith("[")) {
    const match = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(entry);
    return match ? { name: match[1] ?? "", port: match[2] } : { name: entry };
  }
  if (isIP(entry) === 6) return { name: entry };
  const match = /^([^:]+):([0-9]+)$/.exec(entry);
  return match ? { name: match[1] ?? "", port: match[2] } : { name: entry };
}

function bare(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** The request line and headers of a CONNECT to `target`, with Basic auth from the proxy URL. */
export function connectRequest(proxy: URL, target: Endpoint): string {
  const authority = `${isIP(target.host) === 6 ? `[${target.host}]` : target.host}:${target.port}`;
  const lines = [`CONNECT ${authority} HTTP/1.1`, `Host: ${authority}`];
  if (proxy.username !== "") {
    const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
    lines.push(`Proxy-Authorization: Basic ${Buffer.from(credentials).toString("base64")}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/**
 * Reads the proxy's answer to CONNECT from `socket` (bounded in bytes), then hands the
 * socket back as the raw stream to the target: any bytes after the head are unshifted.
 * A 407 or any other non-2xx status, a malformed or oversized head, or a close rejects
 * with a TransportError that says what the proxy answered.
 */
export function readConnectResponse(socket: Duplex, proxy: URL): Promise<ResponseHead> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const cleanup = () => {
      socket.off("readable", onReadable);
      socket.off("end", onEnd);
      socket.off("error", onError);
    };
    const fail = (error: TransportError) => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    // 'readable' and read(), not 'data': once the listener is gone the socket is back in
    // its initial state, so whoever takes it next (TLS, ws's HTTP client) starts it flowing.
    const onReadable = () => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null)
        buffer = Buffer.concat([buffer, chunk]);
      let parsed;
      try {
        parsed = parseHead(buffer, MAX_CONNECT_HEAD_BYTES);
      } catch (error) {
        fail(
          new TransportError(
            "unreachable",
            `The proxy ${proxy.host} did not answer CONNECT with HTTP: ${error instanceof Error ? error.message : String(error)}`,
            { fix: "Check HTTPS_PROXY: it must be an HTTP proxy that allows CONNECT." },
          ),
        );
        return;
      }
      if (parsed === undefined) return;
      cleanup();
      const { head, length } = parsed;
      if (head.status < 200 || head.status > 299) {
        socket.destroy();
        reject(refusal(proxy, head));
        return;
      }
      if (buffer.length > length) socket.unshift(buffer.subarray(length));
      resolve(head);
    };
    const onEnd = () => {
      fail(
        new TransportError(
          "unreachable",
          `The proxy ${proxy.host} closed the connection before answering CONNECT.`,
          {
            fix: "Check HTTPS_PROXY and that the proxy allows CONNECT to the gateway's port.",
          },
        ),
      );
    };
    const onError = (error: Error) => {
      fail(
        new TransportError(
          "unreachable",
          `Cannot reach the proxy ${proxy.host} (${(error as NodeJS.ErrnoException).code ?? error.message}).`,
          {
            cause: error,
            fix: "Check HTTPS_PROXY (host and port) and that the proxy is running.",
          },
        ),
      );
    };
    socket.on("readable", onReadable);
    socket.on("end", onEnd);
    socket.on("error", onError);
  });
}

function refusal(proxy: URL, head: ResponseHead): TransportError {
  const answer = `${head.status}${head.reason === "" ? "" : ` ${head.reason}`}`;
  if (head.status === 407) {
    const scheme = head.headers.get("proxy-authenticate")?.split(" ")[0];
    return new TransportError(
      "unreachable",
      `The proxy ${proxy.host} wants credentials (407${scheme === undefined ? "" : `, ${scheme}`})${proxy.username === "" ? "" : "; the ones given were refused"}.`,
      {
        fix: "Put the proxy's user and password in the proxy URL: HTTPS_PROXY=http://user:password@host:port (Basic auth; percent-encode special characters).",
      },
    );
  }
  return new TransportError(
    "unreachable",
    `The proxy ${proxy.host} refused to connect to the gateway: ${answer}.`,
    {
      fix: "Ask the proxy's operator to allow CONNECT to the gateway's host and port, or set NO_PROXY for it.",
    },
  );
}
