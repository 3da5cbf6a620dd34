import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../support/cli.js";
import { startListeningGateway, TEST_SEQUENCE } from "../support/gateway.js";

describe("webknock user add", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "webknock-user-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("enrolls a user whose oathtool code then opens the door", async () => {
    const secretDir = join(dir, "secrets");
    const run = await cli(["user", "add", "mallory", "--door", "ssh", "--secret-dir", secretDir]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);

    const file = join(secretDir, "mallory.secret");
    const secret = readFileSync(file, "utf8").trim();
    expect(secret).toMatch(/^[A-Z2-7]{32}$/); // 160 bits
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(secretDir).mode & 0o777).toBe(0o700);
    expect(run.stdout).toContain(
      `otpauth://totp/webknock:mallory?secret=${secret}&issuer=webknock`,
    );
    expect(run.stdout).toContain("▄"); // the terminal QR code
    expect(run.stdout).toContain(`users:\n  mallory:\n    secretFile: ${file}\n`);
    expect(run.stdout).toContain("  ssh:\n    users: [..., mallory]");

    // The snippet's secretFile is what the gateway loads.
    const gw = await startListeningGateway({ users: [], secretFiles: { mallory: file } });
    try {
      const { stdout: code } = await execa("oathtool", ["--totp", "-b", secret]);
      const knock = await cli([
        "knock",
        gw.url,
        "-s",
        TEST_SEQUENCE.join(","),
        "-u",
        "mallory",
        "--code",
        code.trim(),
      ]);
      expect(knock.stderr).toBe("");
      expect(knock.code).toBe(0);
    } finally {
      await gw.stop();
    }
  });

  it("refuses to overwrite a secret unless --force, and keeps 0600 when forced", async () => {
    const secretDir = join(dir, "again");
    expect((await cli(["user", "add", "trent", "--secret-dir", secretDir])).code).toBe(0);
    const file = join(secretDir, "trent.secret");
    const first = readFileSync(file, "utf8");

    const refused = await cli(["user", "add", "trent", "--secret-dir", secretDir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("refusing to overwrite");
    expect(readFileSync(file, "utf8")).toBe(first);

    writeFileSync(file, first, { mode: 0o644 });
    const forced = await cli(["user", "add", "trent", "--secret-dir", secretDir, "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(file, "utf8")).not.toBe(first);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("writes the QR code as SVG or PNG, 0600", async () => {
    const svg = join(dir, "peggy.svg");
    const svgRun = await cli(["user", "add", "peggy", "--secret-dir", dir, "--qr-svg", svg]);
    expect(svgRun.code).toBe(0);
    expect(readFileSync(svg, "utf8")).toMatch(/^<svg /);
    expect(statSync(svg).mode & 0o777).toBe(0o600);

    const png = join(dir, "victor.png");
    const pngRun = await cli(["user", "add", "victor", "--secret-dir", dir, "--qr-png", png]);
    expect(pngRun.code).toBe(0);
    expect(readFileSync(png).subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );
  });

  it.each([
    ["a bad name", ["user", "add", "Bad Name"]],
    ["a bad door", ["user", "add", "ok", "--door", "Bad Door"]],
    ["both QR formats", ["user", "add", "ok", "--qr-svg", "a.svg", "--qr-png", "a.png"]],
    ["no name", ["user", "add"]],
  ])("exits 2 on %s", async (_name, argv) => {
    const run = await cli([...argv, "--secret-dir", join(dir, "unused")]);
    expect(run.code).toBe(2);
  });
});
