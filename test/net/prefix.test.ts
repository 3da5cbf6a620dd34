import { describe, expect, it } from "vitest";
import { DEFAULT_PREFIX_LENGTHS, subjectOf } from "../../src/net/prefix.js";

describe("subjectOf (one client per prefix)", () => {
  it("keeps IPv4 addresses and groups IPv6 by /64 by default", () => {
    const cases: [string, string][] = [
      ["203.0.113.7", "203.0.113.7"],
      ["2001:db8:1:2::1", "2001:db8:1:2::/64"],
      ["2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
      ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::/64"],
      ["64:ff9b::203.0.113.7", "64:ff9b::/64"],
      ["::1", "::/64"],
      ["2001:db8:1:2::/64", "2001:db8:1:2::/64"], // a subject maps to itself
      ["2001:db8::/32", "2001:db8::/32"], // a broader prefix stays broader
    ];
    for (const [ip, subject] of cases) expect(subjectOf(ip, DEFAULT_PREFIX_LENGTHS)).toBe(subject);
  });

  it("follows the configured lengths", () => {
    const lengths = { ipv4Prefix: 24, ipv6Prefix: 48 };
    expect(subjectOf("203.0.113.77", lengths)).toBe("203.0.113.0/24");
    expect(subjectOf("198.51.100.255", { ipv4Prefix: 8, ipv6Prefix: 128 })).toBe("198.0.0.0/8");
    expect(subjectOf("2001:db8:1:2::1", lengths)).toBe("2001:db8:1::/48");
    expect(subjectOf("2001:db8:1:2::1", { ipv4Prefix: 32, ipv6Prefix: 128 })).toBe(
      "2001:db8:1:2::1",
    );
    expect(subjectOf("2001:db8:1:2:3:4:5:6", { ipv4Prefix: 32, ipv6Prefix: 60 })).toBe(
      "2001:db8:1::/60",
    );
  });
});
