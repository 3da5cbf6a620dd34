import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { createClientIpResolver } from "../../src/net/client-ip.js";
import { startTestGateway, testConfig, type TestGateway } from "../support/gateway.js";
import { knocker, listen, type Listening } from "./support.js";

/** Just what the resolver reads from a request. */
const req = (peer: string | undefined, xff?: string | string[]) =>
  ({
    socket: { remoteAddress: peer },
    headers: xff === undefined ? {} : { "x-forwarded-for": xff },
  }) as unknown as IncomingMessage;

describe("client IP resolution", () => {
  it("takes the socket peer and ignores X-Forwarded-For when no proxy is trusted", () => {
    const resolve = createClientIpResolver([]);
    expect(resolve(req("203.0.113.7", "198.51.100.1"))).toBe("203.0.113.7");
    expect(resolve(req("::ffff:203.0.113.7"))).toBe("203.0.113.7");
    expect(resolve(req("2001:DB8::1"))).toBe("2001:db8::1");
    expect(resolve(req(undefined))).toBeUndefined();
  });

  it("reads a socket's peer once per socket, but an unreadable peer again", () => {
    const resolve = createClientIpResolver(["loopback"]);
    const socket: { remoteAddress: string | undefined } = { remoteAddress: undefined };
    const on = (xff?: string) =>
      ({
        socket,
        headers: xff === undefined ? {} : { "x-forwarded-for": xff },
      }) as unknown as IncomingMessage;
    expect(resolve(on())).toBeUndefined();
    socket.remoteAddress = "::ffff:127.0.0.1";
    expect(resolve(on())).toBe("127.0.0.1");
    // Keep-alive: later requests on the socket still walk their own X-Forwarded-For.
    expect(resolve(on("198.51.100.1"))).toBe("198.51.100.1");
    expect(resolve(on("198.51.100.2"))).toBe("198.51.100.2");
    expect(resolve(on("evil"))).toBeUndefined();
  });

  it("ignores X-Forwarded-For from an untrusted peer", () => {
    const resolve = createClientIpResolver(["10.0.0.0/8"]);
    expect(resolve(req("203.0.113.7", "198.51.100.1"))).toBe("203.0.113.7");
  });

  it("takes the right-most hop that is not a trusted proxy", () => {
    const resolve = createClientIpResolver(["10.0.0.0/8", "loopback"]);
    // The client forged the left-most entry; the proxies appended the rest.
    expect(resolve(req("127.0.0.1", "1.2.3.4, 198.51.100.9, 10.0.0.2"))).toBe("198.51.100.9");
    expect(resolve(req("10.0.0.1", ["1.2.3.4", "198.51.100.9"]))).toBe("198.51.100.9");
    expect(resolve(req("127.0.0.1", " ::ffff:198.51.100.9 "))).toBe("198.51.100.9");
    expect(resolve(req("127.0.0.1"))).toBe("127.0.0.1");
  });

  it("answers nothing rather than guess when a hop is not an IP", () => {
    const resolve = createClientIpResolver(["loopback"]);
    for (const bad of [
      "evil",
      "198.51.100.9:443",
      "fe80::1%eth0",
      "",
      "1.2.3.4; rm -rf /",
      "999.1.1.1",
    ]) {
      expect(resolve(req("127.0.0.1", bad))).toBeUndefined();
    }
    // A garbage hop left of the client is never reached: the walk stops at the client.
    expect(resolve(req("127.0.0.1", "garbage, 198.51.100.9"))).toBe("198.51.100.9");
  });

  it("never yields anything but a valid, normalised IP (property)", () => {
    const resolve = createClientIpResolver(["loopback", "private"]);
    const hop = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.string({ maxLength: 20 }),
      fc.constantFrom("127.0.0.1", "10.1.2.3", "::1", "::ffff:10.0.0.1", "fe80::1%lo"),
    );
    fc.assert(
      fc.property(
        fc.array(hop, { maxLength: 6 }),
        fc.constantFrom("127.0.0.1", "::1", "203.0.113.5"),
        (hops, peer) => {
          const ip = resolve(req(peer, hops.join(",")));
          if (ip === undefined) return;
          expect(isIP(ip)).not.toBe(0);
          expect(ip).toBe(ip.trim().toLowerCase());
          expect(ip.startsWith("::ffff:")).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("trustProxy config", () => {
  const withTrust = (trustProxy: unknown) => () =>
    resolveConfig(
      {
        server: { trustProxy },
        firewall: { backend: "log" },
        doors: { ssh: { sequence: ["/a"], open: ["tcp/22"], users: ["alice"] } },
        users: { alice: { secret: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT" } },
      },
      { env: {}, readFile: () => "" },
    );

  it("refuses true and hop counts at start-up, saying why and what to write instead", () => {
    for (const value of [true, 1, 2, "loopback"]) {
      expect(withTrust(value)).toThrow(ConfigError);
      expect(withTrust(value)).toThrow(/server\.trustProxy.*forge its IP.*\[loopback\]/s);
    }
  });

  it("refuses an invalid CIDR and accepts CIDRs and keywords", () => {
    expect(withTrust(["10.0.0.0/33"])).toThrow(/server\.trustProxy.*"10\.0\.0\.0\/33"/);
    expect(
      withTrust(["loopback", "private", "linklocal", "203.0.113.0/24", "2001:db8::/32"])(),
    ).toMatchObject({
      server: {
        trustProxy: ["loopback", "private", "linklocal", "203.0.113.0/24", "2001:db8::/32"],
      },
    });
  });
});

describe("client IP over a real loopback listener", () => {
  let t: TestGateway | undefined;
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    await t?.close();
  });

  it("opens for the forwarded client behind a trusted loopback proxy", async () => {
    t = await startTestGateway({ config: testConfig({ server: { trustProxy: ["loopback"] } }) });
    server = await listen(t.gateway.handler);
    const s = server;
    const client = knocker(() => s.port, "198.51.100.23");
    const challenge = await client.walk();
    expect(challenge).toBeDefined();
    expect((await client.redeem(challenge ?? "")).status).toBe(200);
    expect(t.firewall.opened.map((rule) => rule.ip)).toEqual(["198.51.100.23", "198.51.100.23"]);
  });

  it("opens for the socket peer, not the header, when no proxy is trusted", async () => {
    t = await startTestGateway({ config: testConfig({ server: { trustProxy: [] } }) });
    server = await listen(t.gateway.handler);
    const s = server;
    const client = knocker(() => s.port, "198.51.100.23");
    const challenge = await client.walk();
    expect((await client.redeem(challenge ?? "")).status).toBe(200);
    expect(new Set(t.firewall.opened.map((rule) => rule.ip))).toEqual(new Set(["127.0.0.1"]));
  });
});
