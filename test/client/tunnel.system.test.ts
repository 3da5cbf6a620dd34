import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliDeps } from "../../src/cli/deps.js";
import { runCli } from "../../src/cli/index.js";
import { startListeningGateway, TEST_SEQUENCE, type ListeningGateway } from "../support/gateway.js";
import { startConnectProxy, startTunnelFront } from "../support/tunnel-servers.js";
import { selfSigned } from "../support/cert.js";
import { startEcho } from "../support/tunnel.js";

const USERS = ["alice", "bob", "carol", "dave", "erin"];
const WS_PATH = "/t/9f2c1e4b";
const SNI = "ssh.example.test";

/** `webknock tunnel` in-process with its stdin/stdout as streams the test drives. */
function startTunnel(args: readonly string[], env: NodeJS.ProcessEnv) {
  const input = new PassThrough();
  const output = new PassThrough();
  let received = Buffer.alloc(0);
  output.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
  let stderr = "";
  const deps: CliDeps = {
    stdout: { write: () => expect.unreachable("tunnel wrote text on stdout") },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    now: Date.now,
    readFile: (path) => readFileSync(path, "utf8"),
    io: { input, output },
  };
  const exit = runCli(["tunnel", ...args], deps);
  return {
    input,
    exit,
    received: () => received,
    stderr: () => stderr,
    /** Sends `data` and resolves once it came back whole (the target echoes). */
    async echo(data: Buffer, timeoutMs = 10_000) {
      const start = received.length;
      for (let at = 0; at < data.length; at += 16 * 1024)
        input.write(data.subarray(at, at + 16 * 1024));
      const deadline = Date.now() + timeoutMs;
      while (received.length < start + data.length && Date.now() < deadline) {
        const done = await Promise.race([exit.then(() => true), sleep(20).then(() => false)]);
        if (done) break;
      }
      return received.subarray(start);
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("webknock tunnel (against stand-in routes on a real gateway)", () => {
  let gw: ListeningGateway;
  let echo: Awaited<ReturnType<typeof startEcho>>;
  let cert: Awaited<ReturnType<typeof selfSigned>>;
  let front: Awaited<ReturnType<typeof startTunnelFront>>;
  let dir: string;
  let url: string;
  const env = () => ({ XDG_STATE_HOME: join(dir, "state") });
  const who = (user: string) => [
    "-s",
    TEST_SEQUENCE.join(","),
    "-u",
    user,
    "--secret-file",
    join(dir, user),
  ];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "webknock-tunnel-"));
    gw = await startListeningGateway({ users: USERS });
    for (const [user, secret] of gw.secrets) writeFileSync(join(dir, user), secret);
    echo = await startEcho();
    cert = await selfSigned([SNI]);
    front = await startTunnelFront(gw.gateway, {
      door: "ssh",
      wsPath: WS_PATH,
      sni: SNI,
      targetPort: echo.port,
      tls: { cert: cert.pem, key: readFileSync(cert.key, "utf8") },
    });
    url = `http://127.0.0.1:${front.port}`;
  });
  afterAll(async () => {
    await front.close();
    await echo.close();
    cert.remove();
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("knocks without a cached grant, then pipes bytes over the WebSocket both ways", async () => {
    const before = front.connections();
    const run = startTunnel([url, ...who("alice"), "--ws", WS_PATH], env());
    const data = randomBytes(512 * 1024);
    expect((await run.echo(data)).equals(data)).toBe(true);
    run.input.end();
    expect(await run.exit).toBe(0);
    expect(run.stderr()).toMatch(
      /^webknock: Opened tcp\/22, udp\/51820 for 127\.0\.0\.1 \(door ssh\)/,
    );
    // One connection for the whole knock (pipelined), one for the tunnel.
    expect(front.connections() - before).toBe(2);
    const cache = join(dir, "state", "webknock", "grants");
    const files = readdirSync(cache);
    expect(files).toHaveLength(1);
    expect(statSync(join(cache, files[0] ?? "")).mode & 0o777).toBe(0o600);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
  });

  it("uses the cached grant without knocking (a wrong code would fail the knock)", async () => {
    const run = startTunnel(
      [url, "-s", TEST_SEQUENCE.join(","), "-u", "bob", "--code", "000000", "--ws", WS_PATH],
      env(),
    );
    const data = Buffer.from("SSH-2.0-test\r\n");
    expect((await run.echo(data)).equals(data)).toBe(true);
    run.input.end();
    expect(await run.exit).toBe(0);
    expect(run.stderr()).toBe("");
  });

  it("knocks again when the gateway refuses the tunnel under a cached grant (revoked)", async () => {
    await gw.gateway.grants.revoke("ssh", "127.0.0.1");
    const run = startTunnel([url, ...who("carol"), "--ws", WS_PATH], env());
    const data = randomBytes(1000);
    expect((await run.echo(data)).equals(data)).toBe(true);
    run.input.end();
    expect(await run.exit).toBe(0);
    expect(run.stderr()).toContain("Opened tcp/22");
  });

  it("exits 3 when the tunnel is refused right after a fresh knock (wrong path)", async () => {
    const run = startTunnel([url, ...who("dave"), "--ws", "/t/wrong", "--knock"], env());
    expect(await run.exit).toBe(3);
    expect(run.stderr()).toContain("refused the tunnel (HTTP 404");
    expect(run.received()).toHaveLength(0);
  });

  it("opens a TLS tunnel with the door's SNI; the certificate is verified unless --insecure", async () => {
    const strict = startTunnel(
      [url, "-s", TEST_SEQUENCE.join(","), "-u", "x", "--code", "000000", "--sni", SNI],
      env(),
    );
    expect(await strict.exit).toBe(4);
    expect(strict.stderr()).toMatch(/TLS with the gateway .* failed/);

    const run = startTunnel(
      [url, "-s", TEST_SEQUENCE.join(","), "-u", "x", "--code", "000000", "--sni", SNI, "-k"],
      env(),
    );
    const data = randomBytes(256 * 1024);
    expect((await run.echo(data)).equals(data)).toBe(true);
    run.input.end();
    expect(await run.exit).toBe(0);
    expect(run.stderr()).toBe("");
  });

  it("goes through an HTTP CONNECT proxy for the knock and the tunnel; a 407 exits 4 with the fix", async () => {
    const proxy = await startConnectProxy("user:s3cret");
    try {
      const run = startTunnel([url, ...who("erin"), "--ws", WS_PATH, "--knock"], {
        ...env(),
        http_proxy: `http://user:s3cret@127.0.0.1:${proxy.port}`,
      });
      const data = randomBytes(64 * 1024);
      expect((await run.echo(data)).equals(data)).toBe(true);
      run.input.end();
      expect(await run.exit).toBe(0);
      expect(proxy.connects).toEqual([`127.0.0.1:${front.port}`, `127.0.0.1:${front.port}`]);

      const denied = startTunnel([url, ...who("erin"), "--ws", WS_PATH], {
        ...env(),
        HTTP_PROXY: `http://user:wrong@127.0.0.1:${proxy.port}`,
      });
      expect(await denied.exit).toBe(4);
      expect(denied.stderr()).toContain(
        "wants credentials (407, Basic); the ones given were refused",
      );
      expect(denied.stderr()).toContain("HTTPS_PROXY=http://user:password@host:port");
      expect(proxy.connects).toHaveLength(2);
    } finally {
      await proxy.close();
    }
  });

  it("exits 4 when the gateway cannot be reached", async () => {
    const run = startTunnel(
      ["http://127.0.0.1:1", ...who("alice"), "--ws", WS_PATH, "--knock"],
      env(),
    );
    expect(await run.exit).toBe(4);
    expect(run.stderr()).toContain("Cannot reach");
  });
});
