import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { onEphemeralPorts, RecordingFirewall } from "../support/gateway.js";
import { startSshd, type TestSshd } from "../support/sshd.js";
import { selfSigned } from "../support/cert.js";

/**
 * A real sshd behind the multiplexer: `ssh -p` on the plain and TLS listeners, and
 * `openssl s_client -servername` as ProxyCommand, print `ok` only after a grant; before
 * it sshd never sees a connection.
 */

const SNI = "ssh.example.net";
let sshd: TestSshd;
let cert: Awaited<ReturnType<typeof selfSigned>>;
let gateway: Gateway;
let plain = 0;
let tls = 0;

beforeAll(async () => {
  sshd = await startSshd();
  cert = await selfSigned([SNI]);
  const resolved = resolveConfig(
    {
      server: {
        listen: [
          { host: "127.0.0.1", port: 8080 },
          { host: "127.0.0.1", port: 8443, tls: { cert: cert.cert, key: cert.key } },
        ],
      },
      firewall: { backend: "log" },
      doors: {
        ssh: {
          sequence: ["/k/1", "/k/2"],
          open: ["tcp/22"],
          users: ["alice"],
          tunnel: { to: `127.0.0.1:${String(sshd.port)}`, ssh: true, sni: SNI },
        },
      },
      users: { alice: { secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" } },
    },
    { env: {}, readFile: () => "" },
  );
  const config = onEphemeralPorts(resolved);
  gateway = createGateway(config, {
    log: silentLogger(),
    now: Date.now,
    store: new MemoryStore(),
    firewall: new RecordingFirewall(),
  });
  [plain, tls] = (await gateway.start()).map((url) => Number(new URL(url).port)) as [
    number,
    number,
  ];
}, 30_000);

afterAll(async () => {
  await gateway.stop();
  await sshd.stop();
  cert.remove();
});

/** `ssh ... echo ok` through `port`, optionally with openssl s_client as the ProxyCommand. */
function ssh(port: number, viaTls = false) {
  const proxy = viaTls
    ? [
        "-o",
        `ProxyCommand=openssl s_client -quiet -verify_quiet -connect 127.0.0.1:${String(port)} -servername ${SNI}`,
      ]
    : [];
  return execa(
    "ssh",
    [...sshd.sshOptions(), ...proxy, "-p", String(port), "root@127.0.0.1", "echo", "ok"],
    { reject: false, timeout: 15_000 },
  );
}

const connections = () => (sshd.log().match(/Connection from/g) ?? []).length;

describe("ssh through the multiplexer", () => {
  it("reaches nothing without a grant, on any route", async () => {
    for (const run of [ssh(plain), ssh(tls), ssh(tls, true)]) {
      const result = await run;
      expect(result.exitCode).not.toBe(0);
      expect(result.stdout).not.toContain("ok");
    }
    expect(connections()).toBe(0);
  }, 60_000);

  it("prints ok on every route once the IP holds a grant", async () => {
    const door = gateway.engine.lookup("/k/1")?.door;
    if (door === undefined) throw new Error("the door is not configured");
    await gateway.grants.open(door, "127.0.0.1", "alice");
    for (const [port, viaTls] of [
      [plain, false],
      [tls, false],
      [tls, true],
    ] as const) {
      const result = await ssh(port, viaTls);
      expect(result.stdout.trim(), result.stderr).toBe("ok");
    }
    expect(connections()).toBe(3);
  }, 60_000);
});
