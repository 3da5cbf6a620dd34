import {
  connect as netConnect,
  createServer,
  type AddressInfo,
  type Server,
  type Socket,
} from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import type { GatewayConfig } from "../../src/config/types.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { proxyV2Header } from "../../src/tunnel/proxy-v2.js";
import { RecordingFirewall } from "../support/gateway.js";
import { exchange } from "../support/raw-exchange.js";
import { waitFor } from "../support/wait.js";

/**
 * The peek's bounds: a slow-loris SSH client with a grant is handed to the HTTP server
 * when the peek time runs out (no tunnel), hundreds of silent connections leave the
 * knock app answering, and a PROXY v2 header reaches a target that asks for one.
 */

const BANNER = "SSH-2.0-OpenSSH_9.2p1\r\n";
let target: Server;
let received = Buffer.alloc(0);
let gateway: Gateway;
let port = 0;

beforeAll(async () => {
  target = createServer((socket) => {
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      socket.write(chunk);
    });
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
  const resolved = resolveConfig(
    {
      server: { listen: [{ host: "127.0.0.1", port: 8080 }] },
      firewall: { backend: "log" },
      doors: {
        ssh: {
          sequence: ["/k/1"],
          open: [],
          users: ["alice"],
          tunnel: {
            to: `127.0.0.1:${String((target.address() as AddressInfo).port)}`,
            ssh: true,
            proxyProtocol: true,
          },
        },
      },
      users: { alice: { secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" } },
      tunnels: { peekTimeout: "300ms" },
    },
    { env: {}, readFile: () => "" },
  );
  const config: GatewayConfig = {
    ...resolved,
    server: { ...resolved.server, listen: [{ host: "127.0.0.1", port: 0 }] },
  };
  gateway = createGateway(config, {
    log: silentLogger(),
    now: Date.now,
    store: new MemoryStore(),
    firewall: new RecordingFirewall(),
  });
  const [url] = await gateway.start();
  port = Number(new URL(url ?? "").port);
  const door = config.doors[0];
  if (door === undefined) throw new Error("no door");
  await gateway.grants.open(door, "127.0.0.1", "alice");
});

afterAll(async () => {
  await gateway.stop();
  await new Promise((resolve) => target.close(resolve));
});

function connect(): Promise<{ socket: Socket; got: () => string }> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.once("connect", () => {
      resolve({ socket, got: () => text });
    });
  });
}

describe("the peek's bounds", () => {
  it("sends a PROXY v2 header naming the client before its bytes", async () => {
    const { socket, got } = await connect();
    socket.write(BANNER);
    // The target echoes all it got, header included.
    await waitFor("the echo", () => got().endsWith(BANNER));
    const header = proxyV2Header(
      { address: "127.0.0.1", port: socket.localPort ?? 0 },
      { address: "127.0.0.1", port },
    );
    expect(received.subarray(0, header.length).equals(header)).toBe(true);
    expect(received.subarray(header.length).toString()).toBe(BANNER);
    socket.destroy();
    await waitFor("the tunnel to close", () => gateway.tunnels.registry.size === 0);
  });

  it("hands a slow-loris SSH client to the HTTP server when the peek time runs out", async () => {
    const { socket, got } = await connect();
    socket.write("S");
    await new Promise((resolve) => setTimeout(resolve, 150));
    socket.write("S");
    await new Promise((resolve) => setTimeout(resolve, 400));
    socket.write(BANNER.slice(2));
    await waitFor("an answer", () => got().length > 0);
    expect(got()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nServer: nginx\r\n/);
    expect(gateway.tunnels.registry.size).toBe(0);
    socket.destroy();
  });

  it("keeps answering knocks while hundreds of clients stay silent", async () => {
    const silent = await Promise.all(Array.from({ length: 300 }, () => connect()));
    const started = Date.now();
    const answer = await exchange(port, Buffer.from("GET /k/1 HTTP/1.1\r\nHost: gw\r\n\r\n"));
    expect(answer.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(Date.now() - started).toBeLessThan(2000);
    // Past the peek they belong to the HTTP server, which answers a request as ever.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const first = silent[0];
    first?.socket.write("GET /nothing HTTP/1.1\r\nHost: gw\r\n\r\n");
    await waitFor("the decoy", () => (first?.got() ?? "").includes("404 Not Found"));
    const late = silent[1];
    late?.socket.write(BANNER);
    await waitFor("the decoy", () => (late?.got() ?? "").includes("400 Bad Request"));
    expect(gateway.tunnels.registry.size).toBe(0);
    for (const { socket } of silent) socket.destroy();
  });
});
