import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { RecordingFirewall, testConfig } from "../support/gateway.js";
import { startNginx, type NginxHandle } from "../support/nginx.js";
import { exchange } from "../support/raw-exchange.js";

interface Probe {
  readonly name: string;
  readonly request: string;
  /** Sends the request this many times on one connection, pipelined. */
  readonly times?: number;
}

/** The probe set; `{{c*N}}` stands for N copies of c, to keep long requests readable. */
const PROBES = (
  JSON.parse(readFileSync(new URL("../fixtures/nginx-probes.json", import.meta.url), "utf8")) as {
    probes: Probe[];
  }
).probes;

function bytes(probe: Probe): Buffer {
  const text = probe.request.replace(/\{\{(.)\*(\d+)\}\}/g, (_m, c: string, n: string) =>
    c.repeat(Number(n)),
  );
  return Buffer.from(text.repeat(probe.times ?? 1), "latin1");
}

describe("the nginx profile answers as Debian 12's nginx 1.22.1 does", () => {
  let nginx: NginxHandle;
  let gateway: Gateway;
  let gatewayPort: number;
  // The same with every tunnel route on (a connection router and a WebSocket path): a
  // stranger must not be able to tell.
  let tunnelled: Gateway;
  let tunnelledPort: number;
  beforeAll(async () => {
    nginx = await startNginx();
    const now = () => Date.now();
    gateway = createGateway(testConfig(), {
      log: silentLogger(),
      now,
      store: new MemoryStore(now),
      firewall: new RecordingFirewall(),
    });
    const [url = ""] = await gateway.start();
    gatewayPort = Number(new URL(url).port);
    const tunnelDoor = {
      sequence: ["/t/k1"],
      open: [],
      users: ["alice"],
      tunnel: { to: "127.0.0.1:9", ssh: true, path: "/a" },
    };
    tunnelled = createGateway(testConfig({ doors: { tun: tunnelDoor } }), {
      log: silentLogger(),
      now,
      store: new MemoryStore(now),
      firewall: new RecordingFirewall(),
    });
    const [tunnelledUrl = ""] = await tunnelled.start();
    tunnelledPort = Number(new URL(tunnelledUrl).port);
  }, 20_000);
  afterAll(async () => {
    await tunnelled.stop();
    await gateway.stop();
    await nginx.stop();
  });

  it("has probes to send", () => {
    expect(PROBES.length).toBeGreaterThan(80);
  });

  for (const probe of PROBES) {
    it(`byte for byte apart from Date: ${probe.name}`, async () => {
      const request = bytes(probe);
      const quiet = probe.times === undefined ? 300 : 2000;
      const [fromNginx, fromGateway, fromTunnelled] = await Promise.all([
        // A long pipelined answer may pause on a loaded machine: allow longer gaps.
        exchange(nginx.port, request, quiet),
        exchange(gatewayPort, request, quiet),
        exchange(tunnelledPort, request, quiet),
      ]);
      expect(fromGateway).toEqual(fromNginx);
      expect(fromTunnelled).toEqual(fromNginx);
    });
  }
});
