/**
 * One server under load, in its own process so it gets a core of its own and the load
 * generator does not share its event loop. Usage: server-child.ts KIND PORT [REDIS_URL].
 * Prints "READY <url>" once listening; exits on SIGTERM.
 */
import { createServer, type RequestListener } from "node:http";
import express from "express";
import { createGateway } from "../src/gateway.js";
import { createDecoy } from "../src/http/decoy.js";
import { silentLogger } from "../src/log.js";
import { systemClock } from "../src/clock.js";
import { createRedisClient } from "../src/store/redis.js";
import { registerScripts } from "../src/store/redis-scripts.js";
import { benchConfig } from "./config.js";

/** The servers the throughput sections compare. */
export const SERVER_KINDS = [
  "raw-404",
  "raw-decoy",
  "express-404",
  "webknock",
  "raw-redis",
  "raw-redis-404",
  "webknock-flood",
] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

/** The same nginx-like body the decoy sends; the raw baselines send it with minimal headers. */
const BODY = Buffer.from(
  "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
);
const RAW_HEADERS = { "content-type": "text/html", "content-length": String(BODY.length) };

/** The very bytes webknock's decoy sends, written by a bare handler with no routing at all. */
function rawDecoy(): RequestListener {
  const decoy = createDecoy();
  return (_req, res) => {
    res.writeHead(404, decoy.headers);
    res.end(decoy.body);
  };
}

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
  const decoy = createDecoy();
  const headers = answer === "decoy" ? decoy.headers : RAW_HEADERS;
  const body = answer === "decoy" ? decoy.body : BODY;
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
          res.writeHead(404, headers);
          res.end(body);
        },
        () => {
          res.writeHead(503);
          res.end();
        },
      );
  };
}

async function main(): Promise<void> {
  const [kindArg, portArg, redisUrl] = process.argv.slice(2);
  const kind = SERVER_KINDS.find((k) => k === kindArg);
  const port = Number(portArg);
  if (kind === undefined || !Number.isInteger(port)) {
    throw new Error(`usage: server-child.ts (${SERVER_KINDS.join("|")}) PORT [REDIS_URL]`);
  }
  let url: string;
  if (kind === "webknock" || kind === "webknock-flood") {
    const config = benchConfig({
      port,
      ...(redisUrl === undefined ? {} : { redisUrl, keyPrefix: `wkb-${kind}:` }),
      trustLoopback: kind === "webknock-flood",
    });
    const gateway = createGateway(config, { log: silentLogger(), now: systemClock });
    const urls = await gateway.start();
    url = urls[0] ?? "";
  } else {
    const handler =
      kind === "raw-404"
        ? raw404
        : kind === "raw-decoy"
          ? rawDecoy()
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
