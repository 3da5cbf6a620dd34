import type { AddressInfo, Server } from "node:net";

/**
 * Hard limits for every listener (the gateway's and the admin API's): both only ever get
 * small requests, so slow or oversized ones must not tie them up. Node's defaults are far
 * looser (16 KB headers, a 300 s request timeout).
 */
export const SERVER_LIMITS = {
  maxHeaderSize: 8 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 15_000,
  keepAliveTimeout: 5_000,
} as const;

/** What listens: a node:http(s) server, or a connection router in front of one. */
export type Listener = Server & { closeAllConnections(): void };

/** Where a listener binds. */
export interface ListenAddress {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** Starts `server` on the address; resolves with its URL once bound, rejects if it cannot bind. */
export async function listen(
  server: Listener,
  address: ListenAddress,
  scheme: "http" | "https",
): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = address.host.includes(":") ? `[${address.host}]` : address.host;
  return `${scheme}://${host}:${port}`;
}

/** Stops accepting, drops open (idle or keep-alive) connections, resolves once closed. */
export function closeServer(server: Listener): Promise<void> {
  const closed = new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  server.closeAllConnections();
  return closed;
}
