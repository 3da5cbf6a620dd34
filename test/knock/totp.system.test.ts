import { generate } from "otplib";
import { describe, expect, it } from "vitest";
import { execa } from "execa";
import { currentTotp, isWellFormedCode, verifyTotp } from "../../src/knock/totp.js";

/** RFC 6238 Appendix B: seeds are ASCII "1234567890" repeated to the hash's key size. */
const SEEDS = {
  SHA1: "12345678901234567890",
  SHA256: "12345678901234567890123456789012",
  SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
} as const;

const VECTORS: [number, string, string, string][] = [
  [59, "94287082", "46119246", "90693936"],
  [1111111109, "07081804", "68084774", "25091201"],
  [1111111111, "14050471", "67062674", "99943326"],
  [1234567890, "89005924", "91819424", "93441116"],
  [2000000000, "69279037", "90698825", "38618901"],
  [20000000000, "65353130", "77737706", "47863826"],
];

describe("TOTP", () => {
  it.each(VECTORS)("matches RFC 6238 Appendix B at T=%i", async (epoch, sha1, sha256, sha512) => {
    const bytes = (seed: string) => new TextEncoder().encode(seed);
    const at = (algorithm: "sha1" | "sha256" | "sha512", seed: string) =>
      generate({ secret: bytes(seed), epoch, digits: 8, algorithm });
    expect(await at("sha1", SEEDS.SHA1)).toBe(sha1);
    expect(await at("sha256", SEEDS.SHA256)).toBe(sha256);
    expect(await at("sha512", SEEDS.SHA512)).toBe(sha512);
  });

  const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

  it("accepts the current and the previous step, never the next", async () => {
    const now = 1_800_000_015_000;
    const step = Math.floor(now / 30_000);
    expect(await verifyTotp(secret, await currentTotp(secret, now), now)).toBe(step);
    expect(await verifyTotp(secret, await currentTotp(secret, now - 30_000), now)).toBe(step - 1);
    expect(await verifyTotp(secret, await currentTotp(secret, now - 60_000), now)).toBeUndefined();
    expect(await verifyTotp(secret, await currentTotp(secret, now + 30_000), now)).toBeUndefined();
  });

  it("agrees with oathtool, an independent implementation", async () => {
    const now = Date.now();
    const { stdout } = await execa("oathtool", ["--totp", "-b", secret]);
    expect(await verifyTotp(secret, stdout.trim(), now)).toBeDefined();
  });

  it.each([
    "",
    "12345",
    "1234567",
    "abcdef",
    "12 456",
    "١٢٣٤٥٦",
    "１２３４５６",
    "123456\n",
    "9".repeat(100_000),
  ])("calls %j malformed", (code) => {
    expect(isWellFormedCode(code)).toBe(false);
  });
});
