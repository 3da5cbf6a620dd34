import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import {
  CommandFirewall,
  assertTemplate,
  substituteTemplate,
} from "../../src/firewall/command-backend.js";
import { FirewallError } from "../../src/errors.js";
import { describeFirewallContract } from "./contract.js";

const RECORDER = fileURLToPath(new URL("../support/grant-recorder.js", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "webknock-command-"));
const state = join(dir, "state.json");
/** webknock's own table of what it opened, which a restarted gateway reads back. */
const ruleTable = join(dir, "webknock", "command-grants.json");
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const templates = {
  open: [process.execPath, RECORDER, state, "open", "%IP%", "%PROTO%/%PORT%", "timeout=%SECONDS%"],
  close: [process.execPath, RECORDER, state, "close", "%IP%", "%PROTO%/%PORT%"],
};

describeFirewallContract("command", {
  create: (ns, now) => new CommandFirewall({ run: ns.run, now, templates, stateFile: ruleTable }),
  // Entries the stand-in program holds for this address and port.
  count: (_ns, key) => {
    const entries = existsSync(state) ? (JSON.parse(readFileSync(state, "utf8")) as object) : {};
    return Promise.resolve(`${key.ip} ${key.proto}/${key.port}` in entries ? 1 : 0);
  },
  survivesRestart: true,
});

describe("command backend rule table", () => {
  it("is written with mode 0600 and refuses a tampered entry", async () => {
    const file = join(dir, "tampered.json");
    const fw = new CommandFirewall({
      run: () => Promise.resolve({ stdout: "", stderr: "", exitCode: 0 }),
      now: Date.now,
      templates,
      stateFile: file,
    });
    await fw.open({ ip: "203.0.113.7", proto: "tcp", port: 22, expiresAt: Date.now() + 60_000 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileSync(
      file,
      JSON.stringify([{ ip: "-j ACCEPT", proto: "tcp", port: 22, expiresAt: Date.now() + 60_000 }]),
    );
    expect(
      () =>
        new CommandFirewall({
          run: () => Promise.reject(new Error("must not run")),
          now: Date.now,
          templates,
          stateFile: file,
        }),
    ).toThrow(/IP address/);
  });
});

describe("command templates", () => {
  it("substitutes placeholders inside each argument and never splits one", () => {
    expect(
      substituteTemplate(["/sbin/allow", "%IP%,%PROTO%:%PORT%", "timeout %SECONDS%"], {
        IP: "10.0.0.1",
        PROTO: "udp",
        PORT: 53,
        SECONDS: 30,
      }),
    ).toEqual(["/sbin/allow", "10.0.0.1,udp:53", "timeout 30"]);
  });

  it("refuses a placeholder program, unknown placeholders and %SECONDS% in close", () => {
    expect(() => assertTemplate("open", ["%IP%"], true)).toThrow(FirewallError);
    expect(() => assertTemplate("open", [], true)).toThrow(FirewallError);
    expect(() => assertTemplate("open", ["/bin/x", "%HOST%"], true)).toThrow(FirewallError);
    expect(() => assertTemplate("close", ["/bin/x", "%SECONDS%"], false)).toThrow(FirewallError);
  });
});
