import { describe, expect, it } from "vitest";
import { proxyV2Header } from "../../src/tunnel/proxy-v2.js";

/** Byte by byte from haproxy's proxy-protocol.txt, section 2.2. */
const SIG = "0d0a0d0a000d0a515549540a";

describe("proxyV2Header", () => {
  it("writes TCP over IPv4 as the spec lays it out", () => {
    const header = proxyV2Header(
      { address: "192.0.2.10", port: 51234 },
      { address: "198.51.100.1", port: 443 },
    );
    expect(header.toString("hex")).toBe(
      SIG +
        "21" + // version 2, PROXY
        "11" + // AF_INET, STREAM
        "000c" + // 12 address bytes
        "c000020a" +
        "c6336401" +
        "c822" + // 51234
        "01bb", // 443
    );
  });

  it("unmaps IPv4-mapped addresses on a dual-stack listener", () => {
    const header = proxyV2Header(
      { address: "::ffff:192.0.2.10", port: 1 },
      { address: "::ffff:127.0.0.1", port: 2 },
    );
    expect(header.subarray(12, 16).toString("hex")).toBe("2111000c");
    expect(header.length).toBe(28);
  });

  it("writes TCP over IPv6, and an IPv4 end among IPv6 as mapped", () => {
    const header = proxyV2Header(
      { address: "2001:db8::1", port: 40000 },
      { address: "::1", port: 443 },
    );
    expect(header.toString("hex")).toBe(
      SIG +
        "21" +
        "21" + // AF_INET6, STREAM
        "0024" + // 36 address bytes
        "20010db8000000000000000000000001" +
        "00000000000000000000000000000001" +
        "9c40" +
        "01bb",
    );
    const mixed = proxyV2Header({ address: "192.0.2.1", port: 1 }, { address: "::1", port: 2 });
    expect(mixed.subarray(16, 32).toString("hex")).toBe("00000000000000000000ffffc0000201");
  });
});
