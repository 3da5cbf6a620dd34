import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { TunnelLimits } from "../../src/config/types.js";
import { silentLogger } from "../../src/log.js";
import type { LiveGrants } from "../../src/tunnel/live-grants.js";
import { createTunnelMetrics } from "../../src/tunnel/metrics.js";
import { TunnelRegistry } from "../../src/tunnel/registry.js";
import { createConnectionRouter, type Router } from "../../src/tunnel/router.js";

/**
 * A client that says nothing is closed when nginx would close it: at accept + the header
 * timeout, with or without the connection router's peek in front (which otherwise starts
 * the server's clock only at the hand-over, the peek time late). Scaled down: a 1.2 s
 * header timeout and a 0.6 s peek, where the gateway has nginx's 60 s and 5 s.
 */
const HEADER_TIMEOUT_MS = 1200;
const LIMITS: TunnelLimits = {
  maxPerIp: 4,
  maxTotal: 16,
  idleTimeoutMs: 60_000,
  peekTimeoutMs: 600,
  peekBytes: 512,
  revokeCheckMs: 2000,
};

/** A grant lookup that must never run: nothing here asks for a tunnel. */
const NO_LOOKUP: LiveGrants = {
  find: () => Promise.reject(new Error("no connection here asks for a tunnel")),
};

const servers: { close(): void; closeAllConnections(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

/** An HTTP server with the header timeout, checked every 50 ms (nginx's timer is exact). */
function httpServer(): HttpServer {
  const server = createHttpServer(
    {
      headersTimeout: HEADER_TIMEOUT_MS,
      requestTimeout: 2 * HEADER_TIMEOUT_MS,
      connectionsCheckingInterval: 50,
    },
    (_req, res) => {
      res.end("hello");
    },
  );
  // As the stranger does on a header timeout: close without a word.
  server.on("clientError", (_error, socket) => socket.destroy());
  servers.push(server);
  return server;
}

async function listen(server: HttpServer | Router): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** The router in front of an HTTP server, with no door that tunnels (it only peeks). */
function routed(): Router {
  const log = silentLogger();
  const router = createConnectionRouter({
    server: httpServer(),
    ssh: undefined,
    sni: new Map(),
    grants: NO_LOOKUP,
    tunnels: new TunnelRegistry(LIMITS, log, createTunnelMetrics(undefined), Date.now),
    limits: LIMITS,
  });
  servers.push(router);
  return router;
}

/** Connects, sends each of `sends` at its time; resolves with ms to close and what came. */
function silentFor(
  port: number,
  sends: readonly { readonly atMs: number; readonly bytes: string }[] = [],
): Promise<{ closedAfterMs: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ host: "127.0.0.1", port });
    let text = "";
    let started = 0;
    const limit = setTimeout(() => {
      socket.destroy();
      reject(new Error("still open after 5 s"));
    }, 5000);
    socket.on("connect", () => {
      started = performance.now();
      for (const { atMs, bytes } of sends) setTimeout(() => socket.write(bytes), atMs);
    });
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(limit);
      resolve({ closedAfterMs: performance.now() - started, text });
    });
  });
}

describe("a silent client through the connection router", () => {
  it("is closed at accept + the header timeout, as without the router (not a peek later)", async () => {
    const [plain, withRouter] = await Promise.all([
      listen(httpServer()).then((port) => silentFor(port)),
      listen(routed()).then((port) => silentFor(port)),
    ]);
    expect(plain.text).toBe("");
    expect(withRouter.text).toBe("");
    expect(plain.closedAfterMs).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 10);
    expect(withRouter.closedAfterMs).toBeGreaterThanOrEqual(HEADER_TIMEOUT_MS - 10);
    // Without the fix the router's client closes a whole peek (600 ms) later.
    expect(Math.abs(withRouter.closedAfterMs - plain.closedAfterMs)).toBeLessThan(250);
  });

  it("leaves a client that speaks after the peek to the server, past accept + the timeout", async () => {
    const port = await listen(routed());
    // Its request starts after the hand-over and ends after accept + the header timeout:
    // the server's clock (from the first byte) decides, as it does without the router.
    const late = await silentFor(port, [
      { atMs: LIMITS.peekTimeoutMs + 300, bytes: "GET / HTTP/1.1\r\nHost: x\r\n" },
      { atMs: HEADER_TIMEOUT_MS + 300, bytes: "Connection: close\r\n\r\n" },
    ]);
    expect(late.text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*hello$/);
  });
});
