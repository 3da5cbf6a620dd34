/**
 * One server under load, in its own process so it gets a core of its own and the load
 * generator does not share its event loop. Usage: server-child.ts KIND PORT [REDIS_URL,
 * or the site's URL for webknock-upstream, or the target's host:port for webknock-tunnel]
 * [TLS_PORT CERT KEY: webknock-tunnel's TLS listener and SNI and WebSocket routes].
 * Prints "READY <url>" once listening; exits on SIGTERM.
 */
import { createServer, type RequestListener, type ServerResponse } from "node:http";
import express from "express";
import { createGateway } from "../src/gateway.js";
import { PAGES, pageHeaders } from "../src/stealth/nginx-pages.js";
import { silentLogger } from "../src/log.js";
import { systemClock } from "../src/clock.js";
import { createRedisClient } from "../src/store/redis.js";
import { registerScripts } from "../src/store/redis-scripts.js";
import { benchConfig } from "./config.js";
import { startTcpTarget } from "./tcp-target.js";

/** The servers the throughput sections compare. */
export const SERVER_KINDS = [
  "raw-404",
  "raw-decoy",
  "express-404",
  "webknock",
  "raw-redis",
  "raw-redis-404",
  "webknock-flood",
  "site",
  "webknock-upstream",
  "webknock-mux",
  "webknock-tunnel",
  "tcp-target",
] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

/** The same nginx-like body the decoy sends; the raw baselines send it with minimal headers. */
const BODY = Buffer.from(
  "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
);
const RAW_HEADERS = { "content-type": "text/html", "content-length": String(BODY.length) };

/**
 * The very bytes webknock's decoy sends (nginx's 404: Server, Date, Content-Type,
 * Content-Length, Connection), written by a bare handler with no routing at all.
 */
function writeDecoy(res: ServerResponse): void {
  res.sendDate = false;
  res.writeHead(404, "Not Found", pageHeaders(PAGES.notFound, true));
  res.end(PAGES.notFound.body);
}

const rawDecoy: RequestListener = (_req, res) => {
  writeDecoy(res);
};

/** The page the upstream-proxy section fetches: a small site's HTML, 1 KiB. */
const SITE_PAGE = Buffer.from(`<!doctype html><title>Hello</title><p>${"x".repeat(990)}</p>\n`);

/** A plain website for the proxy to stand in front of. */
const site: RequestListener = (_req, res) => {
  res.writeHead(200, { "Content-Type": "text/html", "Content-Length": SITE_PAGE.length });
  res.end(SITE_PAGE);
};

const raw404: RequestListener = (_req, res) => {
  res.writeHead(404, RAW_HEADERS);
  res.end(BODY);
};

function express404(): RequestListener {
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.use((_req, res) => {
    res.status(404).type("html").send(BODY);
  });
  return app;
}

/**
 * One EVALSHA of the advance script per request (same script, keys, arguments and client
 * options as RedisStore.advance for step 0 of the bench door), then the answer: the very
 * decoy bytes webknock sends (`decoy`), or a minimal 2-header 404 (`minimal`, context only).
 */
function rawRedis(url: string, answer: "decoy" | "minimal"): RequestListener {
  const client = createRedisClient(url);
  const redis = registerScripts(client);
  return (req, res) => {
    const ip = req.socket.remoteAddress ?? "";
    redis
      .wkAdvance(
        `wkraw:p:bench:${ip}`,
        "wkraw:c:",
        `wkraw:b:${ip}`,
        `wkraw:bs:${ip}`,
        0,
        3,
        30_000,
        60_000,
        `bench ${ip}`,
        60_000,
        6,
      )
      .then(
        () => {
          if (answer === "decoy") {
            writeDecoy(res);
            return;
          }
          res.writeHead(404, RAW_HEADERS);
          res.end(BODY);
        },
        () => {
          res.writeHead(503);
          res.end();
        },
      );
  };
}

async function main(): Promise<void> {
  const [kindArg, portArg, redisUrl, tlsPort, cert, key] = process.argv.slice(2);
  const kind = SERVER_KINDS.find((k) => k === kindArg);
  const port = Number(portArg);
  if (kind === undefined || !Number.isInteger(port)) {
    throw new Error(`usage: server-child.ts (${SERVER_KINDS.join("|")}) PORT [REDIS_URL]`);
  }
  let url: string;
  if (kind === "tcp-target") {
    url = await startTcpTarget(port);
  } else if (kind === "webknock-tunnel") {
    // The third argument is the tunnel's target here (memory store).
    const tunnelTls =
      tlsPort === undefined || cert === undefined || key === undefined
        ? undefined
        : { port: Number(tlsPort), cert, key };
    const config = benchConfig({
      port,
      tunnelTo: redisUrl ?? "",
      ...(tunnelTls === undefined ? {} : { tunnelTls }),
    });
    const gateway = createGateway(config, { log: silentLogger(), now: systemClock });
    url = (await gateway.start())[0] ?? "";
  } else if (kind === "webknock-upstream") {
    // The third argument is the site's URL here, not Redis's (memory store).
    const config = benchConfig({ port, upstream: redisUrl ?? "" });
    const gateway = createGateway(config, { log: silentLogger(), now: systemClock });
    url = (await gateway.start())[0] ?? "";
  } else if (kind === "webknock" || kind === "webknock-flood" || kind === "webknock-mux") {
    const config = benchConfig({
      port,
      ...(redisUrl === undefined ? {} : { redisUrl, keyPrefix: `wkb-${kind}:` }),
      trustLoopback: kind === "webknock-flood",
      // The same gateway with the connection router in front of its listener: a door with
      // a tunnel (nobody holds a grant, so the router only peeks and hands on).
      ...(kind === "webknock-mux" ? { tunnelTo: "127.0.0.1:9" } : {}),
    });
    const gateway = createGateway(config, { log: silentLogger(), now: systemClock });
    const urls = await gateway.start();
    url = urls[0] ?? "";
  } else {
    const handler =
      kind === "raw-404"
        ? raw404
        : kind === "site"
          ? site
          : kind === "raw-decoy"
            ? rawDecoy
            : kind === "express-404"
              ? express404()
              : rawRedis(redisUrl ?? "", kind === "raw-redis" ? "decoy" : "minimal");
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${port}`;
  }
  process.stdout.write(`READY ${url}\n`);
  process.on("SIGTERM", () => process.exit(0));
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
