import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { resolveConfig } from "../../src/config/load.js";
import type { GatewayConfig } from "../../src/config/types.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { onEphemeralPorts, RecordingFirewall } from "../support/gateway.js";
import { exchange } from "../support/raw-exchange.js";
import { selfSigned } from "../support/cert.js";
import { captureLog, startEcho } from "../support/tunnel.js";
import { waitFor } from "../support/wait.js";

/**
 * Every route of the multiplexer against a TCP echo target, on loopback: a gateway with
 * tunnels beside one without (same config otherwise), so "a stranger sees exactly what
 * he saw before" is checked byte for byte.
 */

const SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const SNI = "tun.example";
const WS_PATH = "/t/9f2c1e4b";
const BANNER = Buffer.from("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

let skew = 0;
const now = () => Date.now() + skew;
let echo: Awaited<ReturnType<typeof startEcho>>;
let cert: Awaited<ReturnType<typeof selfSigned>>;
const logs = captureLog();

interface Running {
  readonly gateway: Gateway;
  readonly config: GatewayConfig;
  readonly plain: number;
  readonly tls: number;
}
let withTunnels: Running;
let without: Running;

async function start(tunnel: boolean): Promise<Running> {
  const resolved = resolveConfig(
    {
      server: {
        listen: [
          { host: "127.0.0.1", port: 8080 },
          { host: "127.0.0.1", port: 8443, tls: { cert: cert.cert, key: cert.key } },
        ],
        trustProxy: ["loopback"],
      },
      firewall: { backend: "log" },
      doors: {
        tun: {
          sequence: ["/k/1", "/k/2"],
          open: tunnel ? [] : ["tcp/22"],
          users: ["alice"],
          ...(tunnel
            ? {
                tunnel: {
                  to: `127.0.0.1:${String(echo.port)}`,
                  ssh: true,
                  sni: SNI,
                  path: WS_PATH,
                },
              }
            : {}),
        },
      },
      users: { alice: { secret: SECRET } },
      admin: { tokenEnv: "TOKEN" },
      tunnels: { maxPerIp: 2, maxTotal: 3, idleTimeout: "1500ms", peekTimeout: "400ms" },
    },
    { env: { TOKEN: "t".repeat(32) }, readFile: () => "" },
  );
  const config = onEphemeralPorts(resolved);
  const gateway = createGateway(config, {
    log: tunnel ? logs.log : silentLogger(),
    now,
    store: new MemoryStore(now),
    firewall: new RecordingFirewall(),
  });
  const [plain, tls] = (await gateway.start()).map((url) => Number(new URL(url).port));
  return { gateway, config, plain: plain ?? 0, tls: tls ?? 0 };
}

const door = () => {
  const found = withTunnels.config.doors[0];
  if (found === undefined) throw new Error("no door");
  return found;
};

/** Opens a connection, sends `first`, and collects what comes back. */
function open(
  port: number,
  first: Buffer,
  localAddress = "127.0.0.1",
): { socket: Socket; got: () => string; closed: Promise<void> } {
  const socket = netConnect({ host: "127.0.0.1", port, localAddress });
  let text = "";
  socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) =>
    socket.once("close", () => {
      resolve();
    }),
  );
  socket.write(first);
  return { socket, got: () => text, closed };
}

/** What a TLS client naming `servername` gets for `request`, without verifying the cert. */
function tlsExchange(port: number, servername: string, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: "127.0.0.1", port, servername, rejectUnauthorized: false });
    let text = "";
    let quiet: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(quiet);
      socket.destroy();
      resolve(text.replace(/\r\nDate: [^\r\n]*/g, "\r\nDate: -"));
    };
    socket.on("secureConnect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString("latin1");
      clearTimeout(quiet);
      quiet = setTimeout(done, 200);
    });
    socket.on("error", done);
    socket.on("close", done);
    setTimeout(done, 3000);
  });
}

const wsRequest = (path: string, xff?: string) =>
  Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n` +
      (xff === undefined ? "" : `X-Forwarded-For: ${xff}\r\n`) +
      "\r\n",
  );

beforeAll(async () => {
  echo = await startEcho();
  cert = await selfSigned([SNI, "localhost"]);
  withTunnels = await start(true);
  without = await start(false);
});

afterAll(async () => {
  await withTunnels.gateway.stop();
  await without.gateway.stop();
  await echo.close();
  cert.remove();
});

describe("without a grant, the multiplexer shows nothing new", () => {
  const probes: [string, Buffer][] = [
    ["an SSH banner", BANNER],
    ["a WebSocket upgrade on the tunnel path", wsRequest(WS_PATH)],
    ["a plain GET of the tunnel path", Buffer.from(`GET ${WS_PATH} HTTP/1.1\r\nHost: gw\r\n\r\n`)],
    ["garbage", Buffer.from([0, 1, 2, 3, 0xff, 0x16])],
    [
      "an upgrade then a pipelined request",
      Buffer.concat([wsRequest("/x"), Buffer.from("GET /y HTTP/1.1\r\nHost: gw\r\n\r\n")]),
    ],
    ["a GET", Buffer.from("GET / HTTP/1.1\r\nHost: gw\r\n\r\n")],
    ["a partial SSH- that stalls past the peek", Buffer.from("SS")],
  ];
  it.each(probes)(
    "plain listener: %s gets the same bytes as without tunnels",
    async (_name, bytes) => {
      const [a, b] = await Promise.all([
        exchange(withTunnels.plain, bytes, 700),
        exchange(without.plain, bytes, 700),
      ]);
      expect(a.text).toBe(b.text);
      expect(a.closed).toBe(b.closed);
      expect(a.text).not.toContain("SSH-2.0");
    },
  );

  it("TLS listener: an SSH banner and TLS naming the tunnel's SNI get the same as without", async () => {
    const [a, b] = await Promise.all([
      exchange(withTunnels.tls, BANNER),
      exchange(without.tls, BANNER),
    ]);
    expect(a).toEqual(b);
    const request = `GET ${WS_PATH} HTTP/1.1\r\nHost: ${SNI}\r\n\r\n`;
    const [c, d] = await Promise.all([
      tlsExchange(withTunnels.tls, SNI, request),
      tlsExchange(without.tls, SNI, request),
    ]);
    expect(c).toContain("404 Not Found");
    expect(c).toBe(d);
    const [e, f] = await Promise.all([
      tlsExchange(withTunnels.tls, SNI, wsRequest(WS_PATH).toString("latin1")),
      tlsExchange(without.tls, SNI, wsRequest(WS_PATH).toString("latin1")),
    ]);
    expect(e).toBe(f);
  });

  it("counts the refusals and opens no tunnel", async () => {
    const metrics = await withTunnels.gateway.metrics?.registry.getSingleMetricAsString(
      "webknock_tunnels_refused_total",
    );
    expect(metrics).toMatch(/reason="no-grant"} [1-9]/);
    expect(withTunnels.gateway.tunnels.registry.size).toBe(0);
  });
});

describe("with a grant", () => {
  beforeAll(async () => {
    await withTunnels.gateway.grants.open(door(), "127.0.0.1", "alice");
  });

  it("plain SSH on the plain and the TLS listener reaches the target", async () => {
    for (const port of [withTunnels.plain, withTunnels.tls]) {
      const conn = open(port, BANNER);
      await waitFor("the echo", () => conn.got() === BANNER.toString("latin1"));
      conn.socket.write("more");
      await waitFor("more echo", () => conn.got().endsWith("more"));
      conn.socket.end();
      await conn.closed;
    }
  });

  it("TLS naming the SNI is terminated and tunnelled; other SNI is the HTTPS app", async () => {
    const tunnelled = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: withTunnels.tls,
        servername: SNI,
        ca: cert.pem,
      });
      socket.on("secureConnect", () => socket.write("ping through tls"));
      socket.on("data", (chunk: Buffer) => {
        resolve(chunk.toString());
        socket.end();
      });
      socket.on("error", reject);
    });
    expect(tunnelled).toBe("ping through tls");
    const other = await tlsExchange(
      withTunnels.tls,
      "localhost",
      "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    expect(other).toContain("404 Not Found");
  });

  it("the WebSocket route carries binary messages both ways", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${String(withTunnels.plain)}${WS_PATH}`);
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      ws.on("open", () => {
        ws.send(Buffer.from([1, 2, 3, 0, 255]));
      });
      ws.on("message", (data: Buffer) => {
        resolve(data);
      });
      ws.on("error", reject);
    });
    expect([...echoed]).toEqual([1, 2, 3, 0, 255]);
    ws.close();
    await waitFor("the tunnel to close", () => withTunnels.gateway.tunnels.registry.size === 0);
  });

  it("holds the per-IP and total limits, and closes idle tunnels", async () => {
    const a = open(withTunnels.plain, BANNER);
    const b = open(withTunnels.plain, BANNER);
    await waitFor("two tunnels", () => withTunnels.gateway.tunnels.registry.size === 2);
    const third = open(withTunnels.plain, BANNER);
    await third.closed;
    expect(third.got()).toBe("");
    // Another granted IP fills the total (3); a fourth tunnel is refused.
    await withTunnels.gateway.grants.open(door(), "127.0.0.2", "alice");
    const c = open(withTunnels.plain, BANNER, "127.0.0.2");
    await waitFor("three tunnels", () => withTunnels.gateway.tunnels.registry.size === 3);
    const fourth = open(withTunnels.plain, BANNER, "127.0.0.2");
    await fourth.closed;
    expect(fourth.got()).toBe("");
    const refused = await withTunnels.gateway.metrics?.registry.getSingleMetricAsString(
      "webknock_tunnels_refused_total",
    );
    expect(refused).toMatch(/reason="per-ip"} 1/);
    expect(refused).toMatch(/reason="total"} 1/);
    // Nobody writes: all three close at the idle timeout (1.5 s).
    await Promise.all([a.closed, b.closed, c.closed]);
    const idle = logs.lines().filter((l) => l.event === "tunnel-close" && l.reason === "idle");
    expect(idle.length).toBeGreaterThanOrEqual(3);
  });

  it("a tunnel opened in time survives the expiry; a new one after it gets the decoy", async () => {
    const before = open(withTunnels.plain, BANNER);
    await waitFor("the echo", () => before.got().length > 0);
    skew += 31_000; // past openFor (30 s)
    const after = await exchange(withTunnels.plain, BANNER);
    const decoy = await exchange(without.plain, BANNER);
    expect(after).toEqual(decoy);
    before.socket.write("still here");
    await waitFor("the old tunnel", () => before.got().endsWith("still here"));
    before.socket.destroy();
    skew -= 31_000;
  });

  it("a revoke closes the IP's tunnels at once, and audits each with its bytes", async () => {
    await withTunnels.gateway.grants.open(door(), "127.0.0.1", "alice");
    const conn = open(withTunnels.plain, BANNER);
    await waitFor("the echo", () => conn.got().length > 0);
    await withTunnels.gateway.grants.revoke("tun", "127.0.0.1");
    await conn.closed;
    const close = logs
      .lines()
      .filter((l) => l.event === "tunnel-close" && l.reason === "revoke")
      .at(-1);
    expect(close).toMatchObject({
      ip: "127.0.0.1",
      door: "tun",
      user: "alice",
      to: `127.0.0.1:${String(echo.port)}`,
      route: "ssh",
      bytesUp: BANNER.length,
      bytesDown: BANNER.length,
    });
    expect(typeof close?.durationMs).toBe("number");
    expect(logs.lines().some((l) => l.event === "tunnel-open" && l.route === "sni")).toBe(true);
    const bytes = await withTunnels.gateway.metrics?.registry.getSingleMetricAsString(
      "webknock_tunnel_bytes_total",
    );
    expect(bytes).toMatch(/door="tun",direction="up"} [1-9]/);
    const gauge =
      await withTunnels.gateway.metrics?.registry.getSingleMetricAsString("webknock_tunnels_open");
    expect(gauge).toMatch(/door="tun"} 0/);
  });
});
