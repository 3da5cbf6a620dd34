import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

function config(doors: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return resolveConfig(
    {
      server: { listen: [{ host: "127.0.0.1", port: 8080 }] },
      firewall: { backend: "log" },
      doors,
      users: { alice: { secret: SECRET } },
      ...extra,
    },
    { env: {}, readFile: () => "" },
  );
}

function problems(doors: Record<string, unknown>, extra: Record<string, unknown> = {}): string[] {
  try {
    config(doors, extra);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

const door = (sequence: string[], tunnel?: Record<string, unknown>, open: string[] = []) => ({
  sequence,
  open,
  users: ["alice"],
  ...(tunnel === undefined ? {} : { tunnel }),
});

describe("doors.X.tunnel", () => {
  it("resolves a tunnel-only door with every route, IPv6 target in brackets", () => {
    const resolved = config(
      {
        ssh: door(["/a1", "/a2"], {
          to: "[::1]:2222",
          ssh: true,
          sni: "SSH.Example.net",
          path: "/t/9f2c1e4b",
          proxyProtocol: true,
          cert: "/c.pem",
          key: "/k.pem",
        }),
      },
      { tunnels: { maxPerIp: 2, idleTimeout: "30s", peekTimeout: "2s" } },
    );
    expect(resolved.doors[0]?.open).toEqual([]);
    expect(resolved.doors[0]?.tunnel).toEqual({
      to: { host: "::1", port: 2222 },
      ssh: true,
      sni: "ssh.example.net",
      path: "/t/9f2c1e4b",
      proxyProtocol: true,
      tls: { cert: "/c.pem", key: "/k.pem" },
    });
    expect(resolved.tunnels).toEqual({
      maxPerIp: 2,
      maxTotal: 1024,
      idleTimeoutMs: 30_000,
      peekTimeoutMs: 2000,
      peekBytes: 16_389,
      revokeCheckMs: 2000,
    });
  });

  it("refuses a door that neither opens a port nor has a tunnel", () => {
    expect(problems({ ssh: door(["/a1"]) })).toEqual([
      expect.stringMatching(
        /^doors\.ssh: got .*list one in open, such as \[tcp\/22\], or add a tunnel$/,
      ),
    ]);
  });

  it("allows one ssh door, each SNI and path once, and no path that is a knock step", () => {
    expect(
      problems({
        a: door(["/a1"], {
          to: "127.0.0.1:22",
          ssh: true,
          sni: "x.example",
          cert: "/c",
          key: "/k",
          path: "/b1",
        }),
        b: door(["/b1"], {
          to: "127.0.0.1:22",
          ssh: true,
          sni: "X.example",
          cert: "/c",
          key: "/k",
          path: "/b1",
        }),
      }),
    ).toEqual([
      'doors.a.tunnel.path: "/b1" is a knock step; choose a path of its own, such as /t/9f2c1e4b',
      "doors.b.tunnel.ssh: plain SSH is already doors.a's; set ssh: true on one door only",
      'doors.b.tunnel.sni: "x.example" is already doors.a\'s; give each door its own sni',
      'doors.b.tunnel.path: "/b1" is already doors.a\'s; give each door its own path',
      'doors.b.tunnel.path: "/b1" is a knock step; choose a path of its own, such as /t/9f2c1e4b',
    ]);
  });

  it("needs a certificate for an SNI route: a TLS listener's or the door's", () => {
    expect(problems({ a: door(["/a1"], { to: "127.0.0.1:22", sni: "x.example" }) })).toEqual([
      'doors.a.tunnel.sni: "x.example" needs a certificate to terminate TLS; add tls to a server.listen entry, or give the tunnel cert and key',
    ]);
    expect(
      problems(
        { a: door(["/a1"], { to: "127.0.0.1:22", sni: "x.example" }) },
        { server: { listen: [{ host: "127.0.0.1", port: 443, tls: { cert: "/c", key: "/k" } }] } },
      ),
    ).toEqual([]);
  });

  it("names the key, the value and the fix for a bad target", () => {
    expect(problems({ a: door(["/a1"], { to: "::1:22" }) })).toEqual([
      'doors.a.tunnel.to: got "::1:22"; write host:port such as 127.0.0.1:22, with an IPv6 address in brackets ([::1]:22)',
    ]);
  });
});
