import { createServer, type Server } from "node:http";
import type { AdminConfig } from "../config/types.js";
import { closeServer, listen, SERVER_LIMITS } from "../net/listen.js";
import { createAdminApp, type AdminAppDeps } from "./app.js";

/** The admin listener; started and stopped with the gateway. */
export interface AdminServer {
  /** Listens on the configured address; resolves with its URL. */
  start(): Promise<string>;
  /** Closes the listener and its connections. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Builds the admin API's own plain-HTTP listener (loopback by default; see docs/usage.md),
 * with the same limits as the knock listener: it only ever gets small requests.
 */
export function createAdminServer(
  config: AdminConfig,
  deps: Omit<AdminAppDeps, "token"> & Partial<Pick<AdminAppDeps, "token">>,
): AdminServer {
  let server: Server | undefined;
  return {
    start() {
      server = createServer(
        SERVER_LIMITS,
        createAdminApp({ ...deps, token: deps.token ?? config.token }),
      );
      return listen(server, config.listen, "http");
    },
    async stop() {
      const listener = server;
      server = undefined;
      if (listener !== undefined) await closeServer(listener);
    },
  };
}
