import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../../src/cli/index.js";
import type { CliDeps } from "../../src/cli/deps.js";
import { EXIT } from "../../src/cli/config-option.js";
import { processDeps } from "../../src/cli/deps.js";

function capture(env: NodeJS.ProcessEnv = {}): CliDeps & { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  return {
    ...processDeps(),
    env,
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

const dir = mkdtempSync(join(tmpdir(), "webknock-cli-"));
const secretFile = join(dir, "alice.totp");
writeFileSync(secretFile, "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT\n", { mode: 0o600 });
const configFile = join(dir, "webknock.yaml");
writeFileSync(
  configFile,
  `firewall: { backend: log }
store: { redis: "redis://:hunter2@127.0.0.1:6379/0" }
doors:
  ssh: { sequence: [/a1, /b2, /c3], open: [tcp/22], users: [alice] }
users:
  alice: { secretFile: ${secretFile} }
`,
);

describe("webknock config check", () => {
  it("prints a summary without secrets and exits 0", async () => {
    const deps = capture();
    expect(await runCli(["config", "check", "-c", configFile], deps)).toBe(EXIT.ok);
    expect(deps.out()).toContain("door ssh: 3 steps within 20s, opens tcp/22 for 30s, users alice");
    expect(deps.out()).not.toContain("hunter2");
    expect(deps.out()).not.toContain("NB2HI4DT");
  });

  it("takes the file from WEBKNOCK_CONFIG", async () => {
    const deps = capture({ WEBKNOCK_CONFIG: configFile });
    expect(await runCli(["config", "check"], deps)).toBe(EXIT.ok);
  });

  it("exits 2 naming the key, the value and the fix", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "firewall: { backend: pf }\ndoors: {}\nusers: {}\n");
    const deps = capture();
    expect(await runCli(["config", "check", "-c", bad], deps)).toBe(EXIT.usage);
    expect(deps.err()).toMatch(
      /firewall\.backend: got "pf"; choose one of iptables, ipset, nftables, command, log/,
    );
  });

  it.each([
    [
      'open: ["%IP%", /bin/true]',
      /firewall\.command\.open: got \["%IP%","\/bin\/true"\]; must start with a fixed program path/,
    ],
    ['open: [/bin/allow, "%HOST%"]', /firewall\.command\.open: .*uses %HOST%; allowed are/],
  ])("catches a bad command template (%s) before any adapter is built", async (open, message) => {
    const bad = join(dir, "bad-template.yaml");
    writeFileSync(
      bad,
      `firewall:
  backend: command
  command: { ${open}, close: [/bin/deny, "%IP%"] }
doors:
  ssh: { sequence: [/a1], open: [tcp/22], users: [alice] }
users:
  alice: { secretFile: ${secretFile} }
`,
    );
    const deps = capture();
    expect(await runCli(["config", "check", "-c", bad], deps)).toBe(EXIT.usage);
    expect(deps.err()).toMatch(message);
  });

  it("refuses command templates under another backend, and a command backend without them", async () => {
    const bad = join(dir, "misplaced.yaml");
    writeFileSync(
      bad,
      `firewall: { backend: iptables, command: { open: [/bin/a], close: [/bin/b] } }
doors: {}
users: {}
`,
    );
    const deps = capture();
    expect(await runCli(["config", "check", "-c", bad], deps)).toBe(EXIT.usage);
    expect(deps.err()).toContain('firewall: got unknown key(s) "command"');
    writeFileSync(bad, "firewall: { backend: command }\ndoors: {}\nusers: {}\n");
    const missing = capture();
    expect(await runCli(["config", "check", "-c", bad], missing)).toBe(EXIT.usage);
    expect(missing.err()).toContain("firewall.command: is required; write open and close argv");
  });

  it("reports an unexpected failure in one line without a stack trace", async () => {
    const deps = capture();
    const broken = {
      ...deps,
      stdout: {
        write: () => {
          throw new TypeError("Cannot read properties of undefined (reading 'x')");
        },
      },
    };
    expect(await runCli(["config", "check", "-c", configFile], broken)).toBe(EXIT.error);
    expect(deps.err()).toBe(
      "webknock: unexpected error (ERR_INTERNAL): TypeError: Cannot read properties of undefined (reading 'x'). This is a bug; please report it (set WEBKNOCK_DEBUG=1 for the stack trace).\n",
    );
  });

  it("exits 2 when no config is given", async () => {
    const deps = capture();
    expect(await runCli(["config", "check"], deps)).toBe(EXIT.usage);
    expect(deps.err()).toMatch(/pass -c FILE or set WEBKNOCK_CONFIG/);
  });
});
