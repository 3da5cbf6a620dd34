import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../support/wait.js";
import { createLab, destroyLab, LAB, startLabGateway, type Lab } from "./lab.js";
import { labConfig } from "./lab-config.js";
import { knockCli, knockPhone, knockWith, ROUTES, revoke, ssh, sshStart } from "./lab-client.js";
import { floodFrom, probeFrom, type ProbeExchange } from "./lab-run.js";

/**
 * Issue 12 end to end, with real parts in namespaces this file creates (lab.ts): a client
 * whose network lets out only tcp/443 reaches a real sshd behind the gateway through port
 * 443, after a knock and only then, and nobody else does.
 */

/** Grants last this long: long enough for a phone to hand over to ssh, short to wait out. */
const OPEN_FOR_MS = 6000;
const PEEK_TIMEOUT_MS = 2000;
const MAX_PER_IP = 4;
const TUNNEL = `{ to: "127.0.0.1:22", ssh: true, sni: ${LAB.sni}, path: ${LAB.wsPath} }`;
const LIMITS = `tunnels: { maxPerIp: ${MAX_PER_IP}, peekTimeout: ${PEEK_TIMEOUT_MS}ms, idleTimeout: 30s }\n`;

/** What OpenSSH's client sends first. */
const SSH_HELLO = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";
/** Bytes no HTTP server takes for a request: the reference "malformed request". */
const GARBAGE = "\x01\x02\x03 not a request\r\n\r\n";
const upgrade = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/** The answer with its Date value blanked: the one header allowed to differ between two answers. */
const same = (x: ProbeExchange) => ({
  text: x.text.replace(/\r\nDate: [^\r\n]*/g, "\r\nDate: -"),
  closed: x.closed,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("through 443 all the way (issue 12)", () => {
  let lab: Lab | undefined;
  const L = () => lab as Lab;
  /** Users not yet used in this file: a fresh one per knock, so no code is replayed. */
  let nextUser = 1;
  const fresh = () => `u${nextUser++}`;
  /** A knock by client A with the HTTP helper; resolves with the grant's expiry (epoch ms). */
  const knockA = async (): Promise<number> => {
    const result = await knockWith(L(), L().agentA, fresh());
    expect(result.status).toBe(200);
    return result.expiresAt;
  };

  beforeAll(async () => {
    lab = await createLab();
    await startLabGateway(
      lab,
      labConfig(lab, { openFor: `${OPEN_FOR_MS}ms`, tunnel: TUNNEL, extra: LIMITS }),
    );
  }, 60_000);

  afterAll(async () => {
    await destroyLab(lab);
  });

  it("lets the clients out on tcp/443 only; sshd listens on the gateway's loopback only", async () => {
    const { agentGw, agentA } = L();
    await agentGw.listen(2222);
    expect((await agentGw.connect(LAB.plainHost, 2222)).ok).toBe(true);
    expect(await agentA.connect(LAB.plainHost, 2222, undefined, 500)).toEqual({
      ok: false,
      error: "ETIMEDOUT",
    });
    expect((await agentA.connect(LAB.plainHost, 443)).ok).toBe(true);
    expect((await agentGw.connect(LAB.plainHost, 22)).ok).toBe(false);
    // The count of connections sshd saw, which later tests compare, does count them.
    const before = L().sshdConnections();
    expect((await agentGw.connect("127.0.0.1", 22)).ok).toBe(true);
    await waitFor("sshd logs the connection", () => L().sshdConnections() === before + 1);
  });

  it("before a knock nothing reaches sshd on any route: the decoy's answer, then close", async () => {
    const lab = L();
    const before = lab.sshdConnections();
    const attempts = await Promise.all(ROUTES.map((route) => ssh(lab, lab.a, route)));
    for (const [i, ran] of attempts.entries()) {
      expect(ran.code, `${ROUTES[i] ?? ""}: ${ran.stderr}`).toBe(255);
      expect(ran.stdout).toBe("");
    }
    const probe = (host: string, send: string, tls = false) =>
      probeFrom(lab.children, lab.a, { host, send, tls, servername: LAB.sni });
    // The plain listener answers as nginx does any malformed request; a TLS listener as
    // nginx's TLS port does bytes that are no TLS (it closes), and inside TLS as plain does.
    for (const [host, tls] of [
      [LAB.plainHost, false],
      [LAB.tlsHost, false],
      [LAB.tlsHost, true],
    ] as const) {
      const hello = await probe(host, SSH_HELLO, tls);
      if (host === LAB.plainHost || tls) {
        expect(hello.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\nServer: nginx\r\n/);
      }
      expect(hello.text).not.toContain("SSH-");
      expect(hello.closed).toBe(true);
      expect(same(hello)).toEqual(same(await probe(host, GARBAGE, tls)));
    }
    // A WebSocket upgrade on the tunnel path gets what one on any unknown path gets.
    const tunnel = await probe(LAB.tlsHost, upgrade(LAB.wsPath), true);
    expect(tunnel.text).toMatch(/^HTTP\/1\.1 404 Not Found\r\nServer: nginx\r\n/);
    expect(same(tunnel)).toEqual(same(await probe(LAB.tlsHost, upgrade("/t/00000000"), true)));
    expect(lab.sshdConnections()).toBe(before);
  }, 30_000);

  it("after a knock, ssh over every route runs `echo ok`", async () => {
    const lab = L();
    const expiresAt = await knockA();
    const runs = await Promise.all(ROUTES.map((route) => ssh(lab, lab.a, route)));
    const late = `${Date.now() - expiresAt} ms after the grant's expiry`;
    for (const [i, ran] of runs.entries()) {
      const route = ROUTES[i] ?? "";
      expect(ran.stdout, `${route} (ended ${late}): ${ran.stderr}`).toBe("ok\n");
      // openssl s_client reports the self-signed certificate on stderr; nothing else may.
      if (route !== "sni") expect(ran.stderr, route).toBe("");
      expect(ran.code, route).toBe(0);
    }
  }, 30_000);

  it("knocks with `webknock knock` over HTTPS, then `ssh -p 443` gets in", async () => {
    const lab = L();
    const knocked = await knockCli(lab, lab.a, fresh());
    expect(knocked.code, knocked.stderr).toBe(0);
    const { granted } = JSON.parse(knocked.stdout) as { granted: { ip: string; door: string } };
    expect(granted).toMatchObject({ ip: lab.ipA, door: LAB.door });
    expect((await ssh(lab, lab.a, "plain")).stdout).toBe("ok\n");
  }, 40_000);

  it("`webknock tunnel` as ProxyCommand knocks by itself, then tunnels over WebSocket and SNI", async () => {
    const lab = L();
    // No grant left from earlier tests: whatever gets through, the ProxyCommand knocked for.
    expect([200, 404]).toContain(await revoke(lab, lab.ipA));
    for (const route of ["cli-ws", "cli-sni"] as const) {
      const before = lab.sshdLogins();
      const ran = await ssh(lab, lab.a, route, "echo ok", { timeoutMs: 60_000, user: fresh() });
      expect(ran.stdout, `${route}: ${ran.stderr}`).toBe("ok\n");
      expect(ran.code, route).toBe(0);
      expect(lab.sshdLogins()).toBe(before + 1);
    }
  }, 130_000);

  it("knocks from a phone (Chromium in the client namespace), then `ssh -p 443` gets in", async () => {
    const lab = L();
    const phone = await knockPhone(lab, lab.a, fresh());
    console.info(`phone: Chromium up in ${phone.launchedMs} ms, whole flow ${phone.ms} ms`);
    expect(phone.error).toBeUndefined();
    expect(phone).toMatchObject({ steps: [404, 404, 200], status: 200, h1: "Open", ip: lab.ipA });
    expect((await ssh(lab, lab.a, "plain")).stdout).toBe("ok\n");
  }, 50_000);

  it("gives another IP nothing while the knocker's grant is live", async () => {
    const lab = L();
    await knockA();
    const before = lab.sshdConnections();
    const [mine, ...theirs] = await Promise.all([
      ssh(lab, lab.a, "plain"),
      ...ROUTES.map((route) => ssh(lab, lab.b, route)),
    ]);
    expect(mine.stdout).toBe("ok\n");
    for (const ran of theirs) {
      expect(ran.code).toBe(255);
      expect(ran.stdout).toBe("");
    }
    const hello = await probeFrom(lab.children, lab.b, { host: LAB.plainHost, send: SSH_HELLO });
    expect(hello.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(lab.sshdConnections()).toBe(before + 1);
  }, 30_000);

  it("keeps a tunnel opened during the grant past its expiry, and opens no new one after", async () => {
    const lab = L();
    const expiresAt = await knockA();
    const logins = lab.sshdLogins();
    // Silent on the wire from the login until it prints, well past the expiry.
    const wait = Math.ceil((expiresAt - Date.now() + 1500) / 1000);
    const session = sshStart(lab, lab.a, "sni", `sleep ${wait}; echo ok`, { timeoutMs: 30_000 });
    await waitFor("the session is up", () => lab.sshdLogins() > logins, { timeoutMs: 10_000 });
    await sleep(Math.max(0, expiresAt + 300 - Date.now()));
    const before = lab.sshdConnections();
    for (const route of ROUTES) expect((await ssh(lab, lab.a, route)).code, route).toBe(255);
    expect(lab.sshdConnections()).toBe(before);
    const ran = await session.done;
    expect(ran.stdout).toBe("ok\n");
    expect(ran.code).toBe(0);
  }, 40_000);

  it("closes the IP's open tunnels on an admin revoke", async () => {
    const lab = L();
    await knockA();
    const logins = lab.sshdLogins();
    const routes = ["plain", "sni", "ws"] as const;
    const sessions = routes.map((route) =>
      sshStart(lab, lab.a, route, "sleep 20; echo ok", { timeoutMs: 30_000 }),
    );
    await waitFor("three sessions are up", () => lab.sshdLogins() === logins + 3, {
      timeoutMs: 10_000,
    });
    const revokedAt = Date.now();
    expect(await revoke(lab, lab.ipA)).toBe(200);
    for (const [i, session] of sessions.entries()) {
      const ran = await session.done;
      const route = routes[i] ?? "";
      expect(ran.stdout, route).toBe("");
      expect(ran.code, route).toBe(255);
      expect(Date.now() - revokedAt, `${route} closed in`).toBeLessThan(3000);
    }
    expect((await ssh(lab, lab.a, "plain")).code).toBe(255);
  }, 40_000);

  it(`holds an IP to ${MAX_PER_IP} tunnels at once`, async () => {
    const lab = L();
    await knockA();
    const logins = lab.sshdLogins();
    const held = Array.from({ length: MAX_PER_IP }, () =>
      sshStart(lab, lab.a, "plain", "sleep 20", { timeoutMs: 30_000 }),
    );
    await waitFor("the allowed sessions are up", () => lab.sshdLogins() === logins + MAX_PER_IP, {
      timeoutMs: 10_000,
    });
    const before = lab.sshdConnections();
    expect((await ssh(lab, lab.a, "plain")).code).toBe(255);
    expect(lab.sshdConnections()).toBe(before);
    for (const session of held) session.child.kill("SIGTERM");
    await Promise.all(held.map((session) => session.done));
  }, 30_000);

  it("bounds the peek in size and time, and answers knocks under a flood of silent and slow clients", async () => {
    const lab = L();
    // A TLS record header announcing the largest record, then more than the peek may read:
    // decided by size at once, not by the timeout.
    const big = `\x16\x03\x01\xff\xff${"\x00".repeat(20_000)}`;
    const oversized = await probeFrom(lab.children, lab.b, { host: LAB.plainHost, send: big });
    expect(oversized.closed).toBe(true);
    expect(oversized.ms).toBeLessThan(PEEK_TIMEOUT_MS - 500);
    // An SSH identification dripped one byte every 2 s: "S", "SS" and "SSH" may still turn
    // into "SSH-", so only the peek's timeout ends the wait; the HTTP server then answers
    // the bytes so far at once (nginx's 400), long before "SSH-" would have been complete.
    const holdMs = PEEK_TIMEOUT_MS + 3000;
    const flood = floodFrom(lab.children, lab.b, {
      host: LAB.plainHost,
      silent: 300,
      loris: 20,
      lorisBytes: Buffer.from(SSH_HELLO, "latin1").toString("hex"),
      lorisEveryMs: 2000,
      holdMs,
    });
    await flood.opened;
    const started = Date.now();
    const decoy = await lab.agentA.http(`http://${LAB.plainHost}:443/favicon.ico`);
    expect(decoy).toMatchObject({ ok: true, status: 404 });
    await knockA();
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await ssh(lab, lab.a, "plain")).stdout).toBe("ok\n");
    const result = await flood.result;
    expect(result.refused).toBe(0);
    // Silent clients see nothing (nginx waits for a request, and says nothing meanwhile).
    expect(result.silentBytes).toBe(0);
    // The slow ones are cut off at the peek timeout, answered as nginx answers non-HTTP.
    for (const ms of result.loris) {
      expect(ms).not.toBeNull();
      expect(ms ?? 0).toBeGreaterThan(PEEK_TIMEOUT_MS - 300);
      expect(ms ?? Infinity).toBeLessThan(PEEK_TIMEOUT_MS + 2000);
    }
    expect(result.lorisBytes).toBeGreaterThan(0);
  }, 30_000);
});
