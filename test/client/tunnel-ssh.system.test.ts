import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
 * `ssh -o ProxyCommand='webknock tunnel --profile ...'` against a real sshd behind the
 * real gateway's tunnel routes: the tunnel knocks (no grant yet), opens the WebSocket or
 * the TLS-with-SNI route, and ssh runs `echo ok` through it.
 */

const SNI = "ssh.example.net";
const WS_PATH = "/t/9f2c1e4b";
const SEQUENCE = ["/k/a1.png", "/k/b2", "/k/c3"];
const USERS = ["alice", "bob", "carol", "dave"];
/** The CLI from source, as `webknock` would run (tsx resolved from the repository). */
const WEBKNOCK = `${process.execPath} --import tsx ${join(process.cwd(), "src/cli/main.ts")}`;

let sshd: TestSshd;
let cert: Awaited<ReturnType<typeof selfSigned>>;
let gateway: Gateway;
let dir: string;
let plain = 0;
let tls = 0;
const SECRETS: Record<string, string> = {
  alice: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
  bob: "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U",
  carol: "KRUGS4ZANFZSAYJAORSXG5BAONSWG4TF",
  dave: "ONSWG4TFOQYTEMZUGU3DOOBZGAYTEMZU",
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wk-tunnel-ssh-"));
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
          sequence: SEQUENCE,
          open: [],
          users: USERS,
          tunnel: { to: `127.0.0.1:${String(sshd.port)}`, sni: SNI, path: WS_PATH },
        },
      },
      users: Object.fromEntries(USERS.map((u) => [u, { secret: SECRETS[u] ?? "" }])),
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
  const profiles = USERS.map((user) => {
    writeFileSync(join(dir, `${user}.secret`), SECRETS[user] ?? "", { mode: 0o600 });
    return `  ${user}:\n    sequence: [${SEQUENCE.join(", ")}]\n    user: ${user}\n    secretFile: ${user}.secret\n`;
  });
  const sniProfile = (profile: string) =>
    `${profile}    url: https://127.0.0.1:${String(tls)}\n    tunnelSni: ${SNI}\n    insecure: true\n`;
  writeFileSync(
    join(dir, "client.yaml"),
    `profiles:\n${profiles[0] ?? ""}    url: http://127.0.0.1:${String(plain)}\n    tunnelPath: ${WS_PATH}\n` +
      [1, 2, 3].map((i) => sniProfile(profiles[i] ?? "")).join(""),
  );
}, 30_000);

afterAll(async () => {
  await gateway.stop();
  await sshd.stop();
  cert.remove();
  rmSync(dir, { recursive: true, force: true });
});

/** `ssh ... echo ok` with `webknock tunnel --profile NAME` as the ProxyCommand. */
function ssh(profile: string) {
  const proxy = `${WEBKNOCK} tunnel --profile ${profile} --client-config ${join(dir, "client.yaml")}`;
  return execa(
    "ssh",
    [
      // The ProxyCommand is a Node process compiling TypeScript: on a loaded machine its
      // start alone can pass the usual 5 s (ssh takes the first value of an option). The
      // cached-grant path is covered in-process by tunnel.system.test.ts.
      ...sshd.sshOptions().map((o) => (o.startsWith("ConnectTimeout=") ? "ConnectTimeout=80" : o)),
      "-o",
      `ProxyCommand=${proxy}`,
      "root@gw.example.net",
      "echo",
      "ok",
    ],
    { reject: false, timeout: 90_000, env: { XDG_STATE_HOME: join(dir, "state") } },
  );
}

/** `webknock tunnel` alone with `input` on its stdin, as ssh would start it. */
function tunnel(profile: string, input: string, ...flags: string[]) {
  const [node = "", ...args] = WEBKNOCK.split(" ");
  return execa(
    node,
    [
      ...args,
      "tunnel",
      "--profile",
      profile,
      "--client-config",
      join(dir, "client.yaml"),
      ...flags,
    ],
    {
      input,
      reject: false,
      timeout: 60_000,
      encoding: "buffer",
      env: { XDG_STATE_HOME: join(dir, "state") },
    },
  );
}

const connections = () => (sshd.log().match(/Connection from/g) ?? []).length;

describe("ssh with webknock tunnel as the ProxyCommand", () => {
  it("knocks, then reaches sshd over the WebSocket route", async () => {
    const result = await ssh("alice");
    expect(result.stdout.trim(), result.stderr).toBe("ok");
    expect(result.stderr).toContain("webknock: Opened door ssh (tunnel only) for 127.0.0.1");
    expect(connections()).toBe(1);
  }, 100_000);

  it("knocks, then reaches sshd over TLS with the door's SNI on the TLS listener", async () => {
    const result = await ssh("bob");
    expect(result.stdout.trim(), result.stderr).toBe("ok");
    expect(result.stderr).toContain("webknock: Opened");
  }, 100_000);

  it("sees the web app's answer on a TLS tunnel under a revoked grant, knocks, and resends ssh's first bytes", async () => {
    // Bob's grant is cached (same gateway and door); revoked here, so the gateway hands
    // the connection to its HTTPS web app, which answers ssh's banner with nginx's 400.
    expect(await gateway.grants.revoke("ssh", "127.0.0.1")).toBeDefined();
    const before = connections();
    const result = await ssh("carol");
    expect(result.stdout.trim(), result.stderr).toBe("ok");
    expect(result.stderr).toContain("webknock: Opened");
    expect(result.stderr).not.toContain("HTTP/1.1");
    expect(connections() - before).toBe(1);
  }, 100_000);

  it("exits 3 with the fix, and writes nothing on stdout, when the SNI is not the door's", async () => {
    const result = await tunnel(
      "dave",
      "SSH-2.0-OpenSSH_9.2p1\r\n",
      "--sni",
      "www.example.net",
      "--knock",
    );
    expect(result.exitCode, Buffer.from(result.stderr).toString()).toBe(3);
    expect(result.stdout).toHaveLength(0);
    expect(Buffer.from(result.stderr).toString()).toContain(
      "its web app answered HTTP 400 over TLS",
    );
    expect(Buffer.from(result.stderr).toString()).toContain("check the profile's tunnelSni");
  }, 100_000);
});
