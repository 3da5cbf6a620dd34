import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UnsafeValueError } from "../../src/errors.js";
import { datestopOf, grantRuleSpec, parseGrantEntries } from "../../src/firewall/iptables-rule.js";

/** The epoch second xt_time reads from a `--datestop` (UTC). */
const stopSecond = (datestop: string) => Date.parse(`${datestop}Z`) / 1000;

/** The last millisecond at which xt_time still matches a rule with this stop. */
const lastMatchMs = (datestop: string) => (stopSecond(datestop) + 1) * 1000 - 1;

const rule = { ip: "10.0.0.1", proto: "tcp", port: 22 } as const;

describe("iptables grant rule", () => {
  it("stops matching at or before the expiry, at most one second early", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2000, max: 2_147_483_647_000 }), (expiresAt) => {
        const last = lastMatchMs(datestopOf(expiresAt));
        expect(last).toBeLessThan(expiresAt);
        expect(last).toBeGreaterThanOrEqual(expiresAt - 1001);
      }),
      { numRuns: 5000 },
    );
    expect(datestopOf(Date.UTC(2026, 11, 2, 18, 0, 0))).toBe("2026-12-02T17:59:59");
    expect(datestopOf(Date.UTC(2026, 11, 2, 18, 0, 0, 999))).toBe("2026-12-02T17:59:59");
  });

  it("never writes the stop xt_time reads as 'no stop', nor one iptables refuses", () => {
    // 1970-01-01T00:00:00 would mean "no stop at all": the earliest written is one second later.
    expect(datestopOf(1000)).toBe("1970-01-01T00:00:01");
    // Past 2038-01-19T03:14:07 iptables refuses the date: later expiries close then (early).
    expect(datestopOf(253_402_300_799_999)).toBe("2038-01-19T03:14:07");
    expect(datestopOf(2_147_483_648_000)).toBe("2038-01-19T03:14:07");
  });

  it("refuses a stop that is not a plain UTC date", () => {
    for (const bad of ["2026-12-02T18:00:00 -j ACCEPT", "-1", "", "2026-12-02", "now"]) {
      expect(() => grantRuleSpec({ ...rule, expiresAt: 5000 }, bad)).toThrow(UnsafeValueError);
    }
  });

  it("reads rules with and without the time match, keeping the stop they were written with", () => {
    const timed = grantRuleSpec({ ...rule, expiresAt: 1_800_000_000_500 });
    const line = `-A G -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -m time --datestop ${timed[13] ?? ""} -m comment --comment "webknock exp=1800000000" -j ACCEPT`;
    const legacy = line.replace(/ -m time --datestop \S+/, "");
    expect(parseGrantEntries("G", [line, legacy])).toEqual([
      { rule: { ...rule, expiresAt: 1_800_000_000_000 }, datestop: "2027-01-15T07:59:59" },
      { rule: { ...rule, expiresAt: 1_800_000_000_000 }, datestop: null },
    ]);
    // The entry rebuilds the exact spec `-D` needs, whichever form it has.
    const [entry, old] = parseGrantEntries("G", [line, legacy]);
    expect(entry && grantRuleSpec(entry.rule, entry.datestop)).toEqual(timed);
    expect(old && grantRuleSpec(old.rule, old.datestop)).not.toContain("time");
    // A probe or a rule with another time option is not a grant.
    expect(
      parseGrantEntries("G", [
        '-A G -m time --datestop 1970-01-02T00:00:00 -m comment --comment "webknock xt_time probe" -j RETURN',
        line.replace("--datestop", "--datestart"),
      ]),
    ).toEqual([]);
  });
});
