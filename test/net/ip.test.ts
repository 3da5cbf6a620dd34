import { DEFAULT_PREFIX_LENGTHS, subjectOf } from "../../src/net/prefix.js";
import type { IncomingMessage } from "node:http";
import fc from "fast-check";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAdminApp } from "../../src/admin/app.js";
import { createMetrics } from "../../src/admin/metrics.js";
import { assertIp, canonicalIp as firewallCanonicalIp } from "../../src/firewall/validate.js";
import { createClientIpResolver } from "../../src/net/client-ip.js";
import { currentTotp } from "../../src/knock/totp.js";
import { silentLogger } from "../../src/log.js";
import { canonicalIp, CidrSet, parseCidr } from "../../src/net/ip.js";
import { listen, send, type Listening } from "../defences/support.js";
import {
  ALICE_SECRET,
  LAST,
  SEQUENCE,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";

/**
 * One address, many spellings: every entry point (client-ip resolution, CIDR matching,
 * the knock itself, grants, bans, the admin API, the firewall) must see one canonical
 * form. The oracle below is written independently of src/net/ip.ts.
 */

type Address = { readonly v4: readonly number[] } | { readonly v6: readonly number[] };

/** RFC 5952 text of eight 16-bit groups: lower case, no leading zeros, longest zero run (2+) as ::. */
function rfc5952(groups: readonly number[]): string {
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.length) best = { start: i, length: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(":");
  const head = hex.slice(0, best.start).join(":");
  const tail = hex.slice(best.start + best.length).join(":");
  return `${head}::${tail}`;
}

function expected(address: Address): string {
  if ("v4" in address) return address.v4.join(".");
  const [a = 0, b = 0, c = 0, d = 0, e = 0, f = 0] = address.v6;
  // ::ffff:0:0/96 is an IPv4-mapped address: the IPv4 address itself.
  if (a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff) {
    const [g = 0, h = 0] = address.v6.slice(6);
    return [g >> 8, g & 0xff, h >> 8, h & 0xff].join(".");
  }
  return rfc5952(address.v6);
}

const byte = fc.integer({ min: 0, max: 255 });
const group = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
const address: fc.Arbitrary<Address> = fc.oneof(
  fc.array(byte, { minLength: 4, maxLength: 4 }).map((v4) => ({ v4 })),
  fc.array(group, { minLength: 8, maxLength: 8 }).map((v6) => ({ v6 })),
  // Runs of zeros are where spellings differ most.
  fc
    .tuple(
      fc.integer({ min: 0, max: 7 }),
      fc.integer({ min: 1, max: 8 }),
      fc.array(group, { minLength: 8, maxLength: 8 }),
    )
    .map(([start, length, v6]) => ({
      v6: v6.map((g, i) => (i >= start && i < start + length ? 0 : g)),
    })),
);

/** Spells one group: any case, zero padding up to four digits. */
const spellGroup = (g: number, pad: number, upper: boolean) => {
  const hex = g.toString(16).padStart(Math.min(4, pad), "0");
  return upper ? hex.toUpperCase() : hex;
};

/** Every way of writing `groups`: full, or :: at any run of zero groups, with or without dotted tail. */
function spellings6(groups: readonly number[], pads: readonly number[], upper: boolean): string[] {
  const parts = groups.map((g, i) => spellGroup(g, pads[i] ?? 1, upper));
  const out = [parts.join(":")];
  for (let start = 0; start < 8; start++) {
    for (let end = start + 1; end <= 8; end++) {
      if (groups.slice(start, end).some((g) => g !== 0)) break;
      out.push(`${parts.slice(0, start).join(":")}::${parts.slice(end).join(":")}`);
    }
  }
  return out;
}

const spelling = fc
  .record({
    address,
    pads: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 8, maxLength: 8 }),
    upper: fc.boolean(),
    pick: fc.nat(),
    mapped: fc.boolean(),
  })
  .map(({ address: a, pads, upper, pick, mapped }) => {
    let options: string[];
    if ("v4" in a) {
      const [w = 0, x = 0, y = 0, z = 0] = a.v4;
      const dotted = a.v4.join(".");
      const mappedGroups = [0, 0, 0, 0, 0, 0xffff, (w << 8) | x, (y << 8) | z];
      options = mapped
        ? [
            ...spellings6(mappedGroups, pads, upper),
            `::ffff:${dotted}`,
            `0::ffff:${dotted}`,
            `0:0:0:0:0:FFFF:${dotted}`,
            `::${upper ? "FFFF" : "ffff"}:${dotted}`,
          ]
        : [dotted];
    } else {
      options = spellings6(a.v6, pads, upper);
    }
    return { address: a, text: options[pick % options.length] ?? options[0] ?? "" };
  });

const runs = { numRuns: 300, seed: 9_5 } as const;

describe("one canonical form for every IP address", () => {
  it("canonicalIp gives the RFC 5952 / dotted IPv4 form of every spelling", () => {
    fc.assert(
      fc.property(spelling, ({ address: a, text }) => {
        expect(canonicalIp(text)).toBe(expected(a));
        expect(canonicalIp(` ${text} `)).toBe(expected(a));
      }),
      runs,
    );
  });

  it.each([
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["0::ffff:1.2.3.4", "1.2.3.4"],
    ["::ffff:0102:0304", "1.2.3.4"],
    ["0:0:0:0:0:FFFF:102:304", "1.2.3.4"],
    ["::FFFF:203.0.113.5", "203.0.113.5"],
    ["2001:DB8:0:0:0:0:0:A", "2001:db8::a"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"],
    ["::1.2.3.4", "::102:304"],
    ["::", "::"],
  ])("%s is %s", (text, canonical) => {
    expect(canonicalIp(text)).toBe(canonical);
  });

  it.each(["fe80::1%eth0", "1.2.3.04", "1.2.3", "-1.2.3.4", "::ffff:1.2.3.4/32", "", "x"])(
    "%j is not an address",
    (text) => {
      expect(canonicalIp(text)).toBeUndefined();
    },
  );

  it("client-ip resolution, CIDRs and the firewall agree on every spelling", () => {
    const direct = createClientIpResolver([]);
    const proxied = createClientIpResolver(["loopback"]);
    const req = (peer: string, forwarded?: string) =>
      ({
        socket: { remoteAddress: peer },
        headers: forwarded === undefined ? {} : { "x-forwarded-for": forwarded },
      }) as unknown as IncomingMessage;
    fc.assert(
      fc.property(spelling, ({ address: a, text }) => {
        const canonical = expected(a);
        expect(direct(req(text))).toBe(canonical);
        expect(proxied(req("::ffff:127.0.0.1", `198.51.100.1, ${text}`))).toBe(canonical);
        expect(new CidrSet([canonical]).has(text)).toBe(true);
        expect(new CidrSet([text]).has(canonical)).toBe(true);
        expect(parseCidr(text)?.address).toBe(canonical);
        // What the firewall is handed is what it accepts, and prints back unchanged.
        expect(assertIp(canonical)).toBe(canonical);
        expect(firewallCanonicalIp(canonical)).toBe(canonical);
      }),
      runs,
    );
  });

  it("the firewall refuses every IPv4-mapped spelling it is handed raw", () => {
    for (const text of [
      "::ffff:1.2.3.4",
      "0::ffff:1.2.3.4",
      "::ffff:0102:0304",
      "0:0:0:0:0:ffff:102:304",
    ]) {
      expect(() => assertIp(text)).toThrow(/IPv4-mapped/);
    }
  });
});

describe("every spelling reaches the same grant, ban and admin route", () => {
  let clock = Date.UTC(2030, 0, 1);
  let gw: TestGateway;
  let server: Listening;
  let admin: ReturnType<typeof createAdminApp>;
  const TOKEN = "0123456789abcdef0123456789abcdef";
  const auth = { Authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    gw = await startTestGateway({ store: "memory", now: () => clock, config: testConfig() });
    server = await listen(gw.gateway.handler);
    admin = createAdminApp({
      token: TOKEN,
      store: gw.store,
      grants: gw.gateway.grants,
      firewall: gw.firewall,
      metrics: createMetrics(gw.store, () => clock),
      now: () => clock,
      log: silentLogger(),
    });
  });
  afterAll(async () => {
    await server.close();
    await gw.close();
  });

  /** Knocks as alice with `forwarded` as the client (the test gateway trusts loopback). */
  async function knockAs(forwarded: string): Promise<{ status: number; ip?: string }> {
    const headers = { "X-Forwarded-For": forwarded, Accept: "application/json" };
    for (const path of SEQUENCE.slice(0, -1)) await send(server.port, "GET", path, headers);
    const last = await send(server.port, "GET", LAST, headers);
    if (last.status !== 200) return { status: last.status };
    const { challenge } = JSON.parse(last.body) as { challenge: string };
    const code = await currentTotp(ALICE_SECRET, clock);
    const res = await send(
      server.port,
      "POST",
      LAST,
      { ...headers, "Content-Type": "application/json" },
      JSON.stringify({ challenge, user: "alice", code }),
    );
    const body = JSON.parse(res.body) as { granted?: { ip: string } };
    return { status: res.status, ip: body.granted?.ip };
  }

  it("a knock, its grant, its rule and DELETE /grants use the canonical form", async () => {
    await fc.assert(
      fc.asyncProperty(spelling, spelling, async (knocked, deleted) => {
        // A fresh TOTP step each run: a code is good once per user and step.
        clock += 60_000;
        const canonical = expected(knocked.address);
        const rulesBefore = gw.firewall.opened.length;
        const result = await knockAs(knocked.text);
        expect(result).toEqual({ status: 200, ip: canonical });
        expect(gw.firewall.opened.slice(rulesBefore).map((r) => r.ip)).toEqual([
          canonical,
          canonical,
        ]);
        expect((await gw.store.listGrants()).map((g) => g.ip)).toContain(canonical);

        // Revoked under another spelling of the same address; an unrelated one is a 404.
        const other = expected(deleted.address) === canonical ? undefined : deleted.text;
        if (other !== undefined) {
          const miss = await request(admin)
            .delete(`/grants/ssh/${encodeURIComponent(other)}`)
            .set(auth);
          expect(miss.status).toBe(404);
        }
        const spelled = encodeURIComponent(knocked.text.toUpperCase());
        const res = await request(admin).delete(`/grants/ssh/${spelled}`).set(auth);
        expect(res.status).toBe(200);
        expect((res.body as { revoked: { ip: string } }).revoked.ip).toBe(canonical);
        expect(await gw.store.listGrants()).toEqual([]);
      }),
      { numRuns: 25, seed: 9_5 },
    );
  });

  it("DELETE /grants/guest/2001:DB8:0:0:0:0:0:A finds the grant of 2001:db8::a", async () => {
    clock += 60_000;
    expect(await knockAs("2001:db8::a")).toEqual({ status: 200, ip: "2001:db8::a" });
    const res = await request(admin).delete("/grants/ssh/2001:DB8:0:0:0:0:0:A").set(auth);
    expect(res.status).toBe(200);
  });

  it("0::ffff:203.0.113.5 from a trusted proxy is granted as 203.0.113.5, rule and record alike", async () => {
    clock += 60_000;
    const before = gw.firewall.opened.length;
    expect(await knockAs("0::ffff:203.0.113.5")).toEqual({ status: 200, ip: "203.0.113.5" });
    expect(gw.firewall.opened.slice(before).every((r) => r.ip === "203.0.113.5")).toBe(true);
    await request(admin).delete("/grants/ssh/203.0.113.5").set(auth).expect(200);
  });

  it.each(["0::ffff:203.0.113.5", "::ffff:0102:0304", "2001:DB8::A", "fe80::1%eth0", "-1"])(
    "never records a grant for %j, which the firewall would refuse or spell otherwise",
    async (ip) => {
      const door = testConfig().doors[0];
      if (door === undefined) throw new Error("test config has no door");
      const before = gw.firewall.opened.length;
      await expect(gw.gateway.grants.open(door, ip, "alice")).rejects.toThrow(
        /Refusing IP address/,
      );
      expect(await gw.store.listGrants()).toEqual([]);
      expect(gw.firewall.opened.length).toBe(before);
    },
  );

  it("a ban recorded under one spelling is lifted under any other", async () => {
    await fc.assert(
      fc.asyncProperty(spelling, async ({ address: a, text }) => {
        const canonical = expected(a);
        await gw.store.ban(canonical, 60_000, "test");
        // Listed as the client it belongs to: an IPv6 address's /64 (limits.ipv6Prefix).
        expect((await gw.store.listBans()).bans.map((b) => b.ip)).toContain(
          subjectOf(canonical, DEFAULT_PREFIX_LENGTHS),
        );
        const res = await request(admin)
          .delete(`/bans/${encodeURIComponent(text)}`)
          .set(auth);
        expect(res.status).toBe(200);
        expect((res.body as { unbanned: string }).unbanned).toBe(canonical);
        expect((await gw.store.listBans()).bans).toEqual([]);
      }),
      { numRuns: 50, seed: 9_5 },
    );
  });
});
