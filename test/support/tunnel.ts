import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { resolveConfig } from "../../src/config/load.js";
import type { GatewayConfig } from "../../src/config/types.js";
import type { Logger } from "../../src/log.js";
import { onEphemeralPorts } from "./gateway.js";

/** A TCP echo server on loopback: the tunnel target where no sshd is needed. */
export async function startEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    socket.on("error", () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** A pino logger whose lines the test can read back as objects. */
export function captureLog(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split("\n")) {
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  return { log: pino({ level: "info" }, sink), lines: () => lines };
}

/** Writes `text` to a new file in a fresh temporary directory; returns its path. */
export function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "wk-tunnel-")), name);
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

/** The TOTP secret of the one user (`alice`) of `tunnelDoorConfig`. */
export const TUNNEL_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

/**
 * A gateway config with one plain loopback listener on an ephemeral port, the `log`
 * firewall, and one door `tun` (sequence /k/1, /k/2; user alice) with `tunnel`; `door` and
 * `top` add door keys and top-level sections.
 */
export function tunnelDoorConfig(
  tunnel: Record<string, unknown>,
  door: Record<string, unknown> = {},
  top: Record<string, unknown> = {},
): GatewayConfig {
  const resolved = resolveConfig(
    {
      server: { listen: [{ host: "127.0.0.1", port: 8080 }] },
      firewall: { backend: "log" },
      doors: { tun: { sequence: ["/k/1", "/k/2"], open: [], users: ["alice"], tunnel, ...door } },
      users: { alice: { secret: TUNNEL_SECRET } },
      ...top,
    },
    { env: {}, readFile: () => "" },
  );
  return onEphemeralPorts(resolved);
}
