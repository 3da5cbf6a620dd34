import { Duplex, PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { firstReply } from "../../src/client/first-reply.js";
import { TransportError } from "../../src/client/http.js";
import { TunnelRefusedError } from "../../src/client/tunnel.js";

/** A tunnel whose far side the test plays: `written` is what reached it, `reply` answers. */
function fakeTunnel() {
  const written: Buffer[] = [];
  const tunnel = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      written.push(chunk);
      done();
    },
  });
  return {
    tunnel,
    written: () => Buffer.concat(written).toString("latin1"),
    reply: (text: string) => tunnel.push(Buffer.from(text, "latin1")),
  };
}

const BANNER = "SSH-2.0-OpenSSH_9.2p1\r\n";
const DECOY_400 = "HTTP/1.1 400 Bad Request\r\nServer: nginx\r\n\r\n";
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("firstReply (the TLS tunnel's refusal is the web app's answer)", () => {
  it("resolves with the service's first bytes, having sent the client's on the way", async () => {
    const { tunnel, written, reply } = fakeTunnel();
    const input = new PassThrough();
    const first = firstReply(tunnel, input, Buffer.alloc(0));
    input.write(BANNER);
    await tick();
    reply("SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
    expect((await first).toString()).toBe("SSH-2.0-OpenSSH_9.2p1 Debian\r\n");
    expect(written()).toBe(BANNER);
    expect(tunnel.destroyed).toBe(false);
  });

  it("refuses on an HTTP answer to a greeting that is not HTTP, keeping what was sent", async () => {
    const { tunnel, reply } = fakeTunnel();
    const input = new PassThrough();
    const first = firstReply(tunnel, input, Buffer.from("SSH-2.0-"));
    input.write("client\r\n");
    await tick();
    reply(DECOY_400);
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TunnelRefusedError);
    expect((error as TunnelRefusedError).status).toBe(400);
    expect((error as TunnelRefusedError).sent?.toString()).toBe("SSH-2.0-client\r\n");
    expect((error as Error).message).toContain("its web app answered HTTP 400 over TLS");
    expect(tunnel.destroyed).toBe(true);
  });

  it("sends the bytes kept from a refused tunnel first", async () => {
    const { tunnel, written, reply } = fakeTunnel();
    const input = new PassThrough();
    const first = firstReply(tunnel, input, Buffer.from(BANNER));
    input.write("more");
    await tick();
    reply("SSH-2.0-x\r\n");
    await first;
    expect(written()).toBe(`${BANNER}more`);
  });

  it("takes HTTP back as the service's answer when the client spoke HTTP", async () => {
    const { tunnel, reply } = fakeTunnel();
    const input = new PassThrough();
    const first = firstReply(tunnel, input, Buffer.alloc(0));
    input.write("GET / HTTP/1.1\r\nHost: intranet\r\n\r\n");
    await tick();
    reply("HTTP/1.1 400 Bad Request\r\n\r\n");
    expect((await first).toString()).toMatch(/^HTTP\/1\.1 400/);
  });

  it("cannot resend more than 64 KiB: the refusal then carries nothing to resend", async () => {
    const { tunnel, reply } = fakeTunnel();
    const input = new PassThrough();
    const first = firstReply(tunnel, input, Buffer.alloc(0));
    input.write(Buffer.alloc(64 * 1024 + 1, 0x41));
    await tick();
    reply(DECOY_400);
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TunnelRefusedError);
    expect((error as TunnelRefusedError).sent).toBeUndefined();
  });

  it("fails as a transport error when the tunnel ends before the service says anything", async () => {
    const { tunnel } = fakeTunnel();
    const first = firstReply(tunnel, new PassThrough(), Buffer.alloc(0));
    tunnel.push(null);
    const error = await first.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportError);
    expect((error as Error).message).toContain("closed before the service behind it said anything");
  });
});
