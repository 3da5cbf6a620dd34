import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { DEFAULTS } from "../../src/config/schema.js";

const withLimits = (limits?: unknown) => () =>
  resolveConfig(
    {
      firewall: { backend: "log" },
      doors: { ssh: { sequence: ["/a"], open: ["tcp/22"], users: ["alice"] } },
      users: { alice: { secret: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT" } },
      ...(limits === undefined ? {} : { limits }),
    },
    { env: {}, readFile: () => "" },
  );

describe("limits config", () => {
  it("defaults every limit to the documented constants", () => {
    expect(withLimits()().limits).toEqual({
      maxFailures: DEFAULTS.maxFailures,
      failureWindowMs: 15 * 60_000,
      lockoutMs: 60_000,
      maxLockoutMs: 3_600_000,
      lockoutMemoryMs: 24 * 3_600_000,
      ipv4Prefix: 32,
      ipv6Prefix: 64,
      scanner: { distinctPaths: 20, windowMs: 10_000, banMs: 3_600_000, trackedIps: 10_000 },
    });
    expect(withLimits({ scanner: { ban: "5m" } })().limits.scanner.banMs).toBe(300_000);
  });

  it("refuses values outside the safe range, naming key, value and fix", () => {
    expect(withLimits({ maxFailures: 1000 })).toThrow(/limits\.maxFailures: .*NIST SP 800-63B/);
    expect(withLimits({ lockout: "soon" })).toThrow(
      /limits\.lockout: got "soon"; write a duration/,
    );
    expect(withLimits({ lockout: "2h", maxLockout: "1h" })).toThrow(
      /limits\.maxLockout: .* shorter than limits\.lockout/,
    );
    expect(withLimits({ scanner: { distinctPaths: 500 } })).toThrow(
      /limits\.scanner\.distinctPaths: .*2 to 64/,
    );
    expect(withLimits({ ipv6Prefix: 129 })).toThrow(/limits\.ipv6Prefix: .*16 to 128/);
    expect(withLimits({ ipv4Prefix: 4 })).toThrow(/limits\.ipv4Prefix: .*8 to 32/);
    expect(withLimits({ ipv4Prefix: 24, ipv6Prefix: 56 })().limits).toMatchObject({
      ipv4Prefix: 24,
      ipv6Prefix: 56,
    });
    expect(withLimits({ maxFailure: 5 })).toThrow(/limits: got unknown key\(s\) "maxFailure"/);
  });

  it("rounds lockouts up to whole seconds, the rate limiter's unit", () => {
    expect(withLimits({ lockout: "1500ms", maxLockout: "100ms" })).toThrow(/maxLockout/);
    expect(withLimits({ lockout: "1500ms" })().limits.lockoutMs).toBe(2000);
  });
});
