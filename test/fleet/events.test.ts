import { describe, expect, it } from "vitest";
import {
  compareIds,
  decodeEntry,
  decodeGrant,
  encodeGrant,
  type FleetGrant,
} from "../../src/fleet/events.js";
import { missedEvents } from "../../src/fleet/stream-info.js";

const grant: FleetGrant = {
  door: "ssh",
  ip: "192.0.2.1",
  ports: [{ proto: "tcp", port: 22 }],
  expiresAt: 1e12,
};

describe("grant events", () => {
  it("round-trips a grant and drops what an agent does not need", () => {
    const json = encodeGrant({ ...grant, user: "alice", grantedAt: 1 } as typeof grant);
    expect(decodeGrant(json)).toEqual(grant);
    expect(decodeEntry("1-0", ["k", "revoke", "g", json])).toEqual({
      id: "1-0",
      kind: "revoke",
      grant,
    });
  });

  it("refuses malformed entries instead of passing them on to the firewall", () => {
    expect(decodeGrant("{")).toBeUndefined();
    expect(decodeGrant(JSON.stringify({ ...grant, ports: [{ proto: "icmp", port: 1 }] }))).toBe(
      undefined,
    );
    expect(decodeGrant(JSON.stringify({ ...grant, extra: 1 }))).toBeUndefined();
    expect(decodeEntry("1-0", ["k", "grant-all", "g", encodeGrant(grant)])).toBeUndefined();
  });

  it("orders stream ids numerically, not as text", () => {
    expect(compareIds("9-0", "10-0")).toBeLessThan(0);
    expect(compareIds("10-2", "10-10")).toBeLessThan(0);
    expect(compareIds("10-1", "10-1")).toBe(0);
    expect(compareIds("1796206684546-0", "0-0")).toBeGreaterThan(0);
  });

  it("sees events trimmed before they were read", () => {
    const info = (lastId: string, firstId?: string) => ({ length: 1, lastId, firstId });
    expect(missedEvents(info("5-0", "3-0"), "4-0")).toBe(false);
    // The oldest entry is past the cursor: what lay between may be gone, so re-sync.
    expect(missedEvents(info("5-0", "5-0"), "4-0")).toBe(true);
    expect(missedEvents(info("5-0"), "4-0")).toBe(true);
    expect(missedEvents(info("5-0"), "5-0")).toBe(false);
    expect(missedEvents(undefined, "0-0")).toBe(false);
    expect(missedEvents(undefined, "5-0")).toBe(true);
  });
});
