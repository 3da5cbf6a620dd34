import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { demoConfig } from "../../src/cli/commands/demo.js";
import { loadConfigFile, resolveConfig } from "../../src/config/load.js";
import { DEMO_SECRET } from "../../src/config/secret.js";
import { ConfigError } from "../../src/errors.js";
import { cli } from "../support/cli.js";

const SECRET = "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT";
const TOKEN = "0123456789abcdef0123456789abcdef";
const dir = mkdtempSync(join(tmpdir(), "webknock-secrets-"));

/** Writes a file with exactly `mode` (chmod after, so the umask cannot narrow it). */
function file(name: string, text: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function configFile(name: string, users: string, extra = ""): string {
  return file(
    name,
    `firewall: { backend: log }
doors:
  ssh: { sequence: [/a1, /b2], open: [tcp/22], users: [alice] }
users:
${users}
${extra}`,
    0o600,
  );
}

function problems(raw: unknown): string {
  try {
    resolveConfig(raw, { env: {}, readFile: () => "", fileMode: () => 0o600 });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.join("\n");
    throw error;
  }
  return "";
}

const inline = (secret: string, users: unknown = ["alice"]) => ({
  firewall: { backend: "log" },
  doors: { ssh: { sequence: ["/a1"], open: ["tcp/22"], users } },
  users: { alice: { secret } },
});

describe("secret and token files others can read", () => {
  it.each([0o644, 0o640, 0o604, 0o660, 0o602])("refuses a secret file of mode %o", async (mode) => {
    const secret = file(`alice-${mode.toString(8)}.secret`, `${SECRET}\n`, mode);
    const config = configFile(`c-${mode.toString(8)}.yaml`, `  alice: { secretFile: ${secret} }`);
    const run = await cli(["config", "check", "-c", config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `users.alice.secretFile: ${secret} has mode 0${mode.toString(8)}, so group or others may read the secret; run chmod 600 ${secret}`,
    );
    expect(run.stderr).not.toContain(SECRET);
  });

  it("accepts mode 0600 and 0400", () => {
    for (const mode of [0o600, 0o400]) {
      const secret = file(`ok-${mode.toString(8)}.secret`, `${SECRET}\n`, mode);
      const config = configFile(
        `ok-${mode.toString(8)}.yaml`,
        `  alice: { secretFile: ${secret} }`,
      );
      expect(loadConfigFile(config).users.get("alice")?.secret).toBe(SECRET);
    }
  });

  it("refuses an admin token file others can read", async () => {
    const secret = file("alice-admin.secret", `${SECRET}\n`, 0o600);
    const token = file("admin.token", `${TOKEN}\n`, 0o644);
    const config = configFile(
      "admin.yaml",
      `  alice: { secretFile: ${secret} }`,
      `admin: { tokenFile: ${token} }`,
    );
    const run = await cli(["config", "check", "-c", config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`admin.tokenFile: ${token} has mode 0644`);
    expect(run.stderr).toContain(`chmod 600 ${token}`);
    expect(run.stderr).not.toContain(TOKEN);
  });
});

describe("secrets that are not secret", () => {
  it("refuses fewer than 128 bits", () => {
    expect(problems(inline(SECRET.slice(0, 25)))).toMatch(
      /^users\.alice\.secret: .*at least 26 characters \(128 bits\); got 25 characters/,
    );
  });

  it.each([
    ["all zero bits", "A".repeat(26)],
    ["all one bits", "7".repeat(32)],
    ["one repeated byte", "KVKVKVKVKVKVKVKVKVKVKVKVKVKVKVKV"],
  ])("refuses %s", (_name, secret) => {
    const problem = problems(inline(secret));
    expect(problem).toMatch(/^users\.alice\.secret: the secret's \d+ bytes are all the same value/);
    expect(problem).not.toContain(secret);
  });

  it("refuses the public demo secret, in any spelling, everywhere but the demo", () => {
    const spaced = DEMO_SECRET.toLowerCase().replace(/(.{4})/g, "$1 ");
    for (const secret of [DEMO_SECRET, spaced, `${DEMO_SECRET}====`]) {
      expect(problems(inline(secret))).toMatch(
        /^users\.alice\.secret: this is the public secret of 'webknock demo'/,
      );
    }
    expect(demoConfig(8080).users.get("demo")?.secret).toBe(DEMO_SECRET);
  });
});

describe("YAML that does not parse", () => {
  it("says so in one line naming the file and the place", async () => {
    const config = file("broken.yaml", "doors: [unclosed\nusers: {}\n", 0o600);
    const run = await cli(["config", "check", "-c", config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(
      new RegExp(
        `^webknock: Config file ${config} is not valid YAML: .*line \\d+, column \\d+.*\\n$`,
      ),
    );
    expect(run.stderr.split("\n")).toHaveLength(2);
  });

  it("refuses an alias bomb in one line, without a stack trace", async () => {
    const levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array<string>(10).fill(`*${prev}`).join(", ")}]`);
    }
    const config = file("bomb.yaml", `${levels.join("\n")}\n`, 0o600);
    const started = Date.now();
    const run = await cli(["config", "check", "-c", config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(
      `webknock: Config file ${config} is not valid YAML: too many aliases (more than 100 expansions); write the values out\n`,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("names that are inherited properties", () => {
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])(
    "refuses doors.ssh.users: [%s] when no such user is defined",
    (name) => {
      expect(problems(inline(SECRET, [name]))).toContain(
        `doors.ssh.users[0]: user ${JSON.stringify(name)} is not defined`,
      );
    },
  );
});
