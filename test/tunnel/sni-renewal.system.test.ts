import { copyFileSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { MemoryStore } from "../../src/store/memory.js";
import { RecordingFirewall } from "../support/gateway.js";
import { selfSigned } from "../support/cert.js";
import { captureLog, startEcho, tunnelDoorConfig } from "../support/tunnel.js";

const SNI = "tun.example";

/** The certificate a TLS client naming the tunnel's SNI is served, and whether the tunnel echoes. */
function handshake(port: number): Promise<{ fingerprint: string; echoed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername: SNI, rejectUnauthorized: false });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no TLS tunnel within 5 s"));
    }, 5000);
    let fingerprint = "";
    socket.on("secureConnect", () => {
      fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.write("ping");
    });
    socket.on("data", (chunk: Buffer) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ fingerprint, echoed: chunk.toString() === "ping" });
    });
    socket.on("error", (error: Error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

/**
 * The SNI route's certificate follows its files, as a renewal replaces them (certbot
 * swaps them in place): new tunnels get the new pair; a pair that does not load is
 * refused with a log line and the last good one stays.
 */
describe("the SNI route's certificate after a renewal", () => {
  const logs = captureLog();
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let first: Awaited<ReturnType<typeof selfSigned>>;
  let second: Awaited<ReturnType<typeof selfSigned>>;
  let live: string;
  let gateway: Gateway | undefined;
  let port = 0;

  /** Installs a pair the way a renewal does: write beside, then rename over. */
  const install = (cert: string, key: string) => {
    copyFileSync(cert, join(live, "cert.new"));
    copyFileSync(key, join(live, "key.new"));
    renameSync(join(live, "cert.new"), join(live, "cert.pem"));
    renameSync(join(live, "key.new"), join(live, "key.pem"));
  };

  beforeAll(async () => {
    echo = await startEcho();
    [first, second] = await Promise.all([selfSigned([SNI]), selfSigned([SNI])]);
    live = mkdtempSync(join(tmpdir(), "wk-sni-live-"));
    install(first.cert, first.key);
    const config = tunnelDoorConfig({
      to: `127.0.0.1:${String(echo.port)}`,
      sni: SNI,
      cert: join(live, "cert.pem"),
      key: join(live, "key.pem"),
    });
    gateway = createGateway(config, {
      store: new MemoryStore(Date.now),
      firewall: new RecordingFirewall(),
      log: logs.log,
      now: Date.now,
    });
    port = Number(new URL((await gateway.start())[0] ?? "").port);
    const door = config.doors[0];
    if (door === undefined) throw new Error("no door");
    await gateway.grants.open(door, "127.0.0.1", "alice");
  }, 30_000);

  afterAll(async () => {
    await gateway?.stop();
    await echo.close();
    first.remove();
    second.remove();
    rmSync(live, { recursive: true, force: true });
  });

  it("serves the pair it started with", async () => {
    expect(await handshake(port)).toEqual({ fingerprint: fingerprintOf(first.pem), echoed: true });
  });

  it("serves the renewed pair to the next tunnel, without a restart or reload", async () => {
    install(second.cert, second.key);
    expect(await handshake(port)).toEqual({ fingerprint: fingerprintOf(second.pem), echoed: true });
    expect(logs.lines()).toContainEqual(expect.objectContaining({ event: "tls-reloaded" }));
  });

  it("keeps the last good pair when the new one does not load (a key that does not match)", async () => {
    install(first.cert, second.key);
    expect(await handshake(port)).toEqual({ fingerprint: fingerprintOf(second.pem), echoed: true });
    expect(logs.lines()).toContainEqual(
      expect.objectContaining({ msg: expect.stringContaining("do not load") as unknown }),
    );
  });
});
