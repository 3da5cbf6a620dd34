import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { AdminConfig } from "../config/types.js";
import { createAdminApp, type AdminAppDeps } from "./app.js";

/** The admin listener; started and stopped with the gateway. */
export interface AdminServer {
  /** Listens on the configured address; resolves with its URL. */
  start(): Promise<string>;
  /** Closes the listener and its connections. Idempotent. */
  stop(): Promise<void>;
}

/** Same limits as the knock listener: the admin API only ever gets small requests. */
const ADMIN_LIMITS = {
  maxHeaderSize: 8 * 1024,
  headersTimeout: 10_000,
  requestTimeout: 15_000,
  keepAliveTimeout: 5_000,
} as const;

/** Builds the admin API's own plain-HTTP listener (loopback by default; see docs/usage.md). */
export function createAdminServer(
  config: AdminConfig,
  deps: Omit<AdminAppDeps, "token">,
): AdminServer {
  let server: Server | undefined;
  return {
    async start() {
      const listener = createServer(ADMIN_LIMITS, createAdminApp({ ...deps, token: config.token }));
      server = listener;
      await new Promise<void>((resolve, reject) => {
        listener.once("error", reject);
        listener.listen(config.listen.port, config.listen.host, () => {
          resolve();
        });
      });
      const { port } = listener.address() as AddressInfo;
      const host = config.listen.host.includes(":")
        ? `[${config.listen.host}]`
        : config.listen.host;
      return `http://${host}:${port}`;
    },
    async stop() {
      const listener = server;
      server = undefined;
      if (listener === undefined) return;
      const closed = new Promise<void>((resolve) =>
        listener.close(() => {
          resolve();
        }),
      );
      listener.closeAllConnections();
      await closed;
    },
  };
}
