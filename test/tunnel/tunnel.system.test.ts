import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLab, destroyLab, LAB, startLabGateway, type Lab } from "./lab.js";
import { labConfig } from "./lab-config.js";
import { knockCli, knockPhone, knockWith, ROUTES, ssh } from "./lab-client.js";
import { waitFor } from "../support/wait.js";
import { floodFrom, probeFrom, type ProbeExchange } from "./lab-run.js";

/**
 * Issue 12 end to end, with real parts in namespaces this file creates (test/tunnel/lab.ts):
 * a client whose network lets out only tcp/443 reaches a real sshd behind the gateway
 * through port 443, after a knock and only then, and nobody else does.
 */

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

describe("through 443 all the way (issue 12)", () => {
  let lab: Lab | undefined;
  const L = () => lab as Lab;
  /** Users not yet used in this file: a fresh one per knock, so no code is replayed. */
  const fresh = (() => {
    let next = 1;
    return () => `u${next++}`;
  })();

  beforeAll(async () => {
    lab = await createLab();
    await startLabGateway(lab, labConfig(lab, { openFor: "3s" }));
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
    for (const route of ROUTES) {
      const ran = await ssh(lab, lab.a, route);
      expect(ran.code, `${route}: ${ran.stderr}`).toBe(255);
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

  it("knocks with `webknock knock` over HTTPS from the 443-only network", async () => {
    const lab = L();
    const ran = await knockCli(lab, lab.a, fresh());
    expect(ran.code, ran.stderr).toBe(0);
    const { granted } = JSON.parse(ran.stdout) as { granted: { ip: string; door: string } };
    expect(granted).toMatchObject({ ip: lab.ipA, door: LAB.door });
  }, 40_000);

  it("knocks from a phone: Chromium in the client namespace, the bookmarks and the form", async () => {
    const lab = L();
    const phone = await knockPhone(lab, lab.a, fresh());
    console.info(`phone: Chromium up in ${phone.launchedMs} ms, whole flow ${phone.ms} ms`);
    expect(phone.error).toBeUndefined();
    expect(phone).toMatchObject({ steps: [404, 404, 200], status: 200, h1: "Open", ip: lab.ipA });
  }, 45_000);

  it("answers knocks while hundreds of silent and slow connections are held open", async () => {
    const lab = L();
    // A TLS record header, then a ClientHello dripped one byte at a time: the peek can never decide.
    const hello = `16030102000100${"01fc0303".padEnd(60, "a")}`;
    const flood = floodFrom(lab.children, lab.b, {
      host: LAB.plainHost,
      silent: 300,
      loris: 20,
      lorisBytes: hello,
      lorisEveryMs: 200,
      holdMs: 4000,
    });
    await flood.opened;
    const started = Date.now();
    const decoy = await lab.agentA.http(`http://${LAB.plainHost}:443/favicon.ico`);
    expect(decoy).toMatchObject({ ok: true, status: 404 });
    expect((await knockWith(lab, lab.agentA, fresh())).status).toBe(200);
    expect(Date.now() - started).toBeLessThan(2000);
    const result = await flood.result;
    expect(result.refused).toBe(0);
    // Silent clients see nothing (nginx waits for a request, and says nothing meanwhile).
    expect(result.silentBytes).toBe(0);
    // The slow ones are answered as nginx answers bytes that are not HTTP, and closed.
    expect(result.loris.every((ms) => ms !== null)).toBe(true);
    expect(result.lorisBytes).toBeGreaterThan(0);
  }, 30_000);
});
