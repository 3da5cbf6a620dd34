import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { certificateCheck, CERT_WARN_DAYS } from "../../src/doctor/files.js";
import { contextFor, rawConfig } from "./support.js";

const DAY_MS = 86_400_000;

/** Certificate expiry against real certificates made by openssl. */
describe("the certificate check", () => {
  let dir = "";
  const cert = async (days: number) => {
    const path = join(dir, `cert-${days}.pem`);
    await execa("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", join(dir, `key-${days}.pem`), "-out", path, "-days", String(days), "-subj", "/CN=knock.test",
    ]); // prettier-ignore
    return path;
  };
  const check = (path: string, now = Date.now()) => {
    const raw = {
      ...rawConfig("log", ["tcp/22"]),
      server: {
        listen: [{ host: "0.0.0.0", port: 8443, tls: { cert: path, key: `${path}.key` } }],
      },
    };
    return certificateCheck.run(
      contextFor(rawConfig("log", ["tcp/22"]), async () => Promise.reject(new Error("none")), {
        raw,
        now: () => now,
      }),
    );
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "webknock-tls-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it(`warns within ${CERT_WARN_DAYS} days of expiry, fails after it`, async () => {
    const soon = await cert(7);
    expect(await check(soon)).toEqual([
      expect.objectContaining({
        severity: "warning",
        summary: expect.stringMatching(/expires in [67] days/),
      }),
    ]);
    const later = await cert(60);
    expect((await check(later))[0]?.severity).toBe("ok");
    expect((await check(later, Date.now() + 50 * DAY_MS))[0]?.severity).toBe("warning");
    expect((await check(later, Date.now() + 61 * DAY_MS))[0]).toMatchObject({
      severity: "problem",
      summary: expect.stringContaining("expired"),
    });
  });
});
