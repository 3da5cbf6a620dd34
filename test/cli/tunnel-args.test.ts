import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { CliDeps } from "../../src/cli/deps.js";
import { runCli } from "../../src/cli/index.js";

/** Runs `webknock tunnel ...` in-process; every case here fails before any packet is sent. */
async function tunnel(args: readonly string[], files: Record<string, string> = {}, io = true) {
  let stdout = "";
  let stderr = "";
  const deps: CliDeps = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: {},
    now: Date.now,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error("missing"), { code: "ENOENT" });
      return text;
    },
    ...(io ? { io: { input: new PassThrough(), output: new PassThrough() } } : {}),
  };
  const code = await runCli(["tunnel", ...args], deps);
  return { code, stdout, stderr };
}

const BASE = ["https://gw.example.net", "-s", "/a,/b", "-u", "alice", "--code", "123456"];

describe("webknock tunnel arguments", () => {
  it("needs exactly one route: --ws PATH or --sni NAME", async () => {
    const none = await tunnel(BASE);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("No tunnel route: pass --ws PATH");
    const both = await tunnel([...BASE, "--ws", "/t/1", "--sni", "ssh.example.net"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("either --ws PATH or --sni NAME");
  });

  it("checks the path and the name before sending anything", async () => {
    const path = await tunnel([...BASE, "--ws", "//evil.example/t"]);
    expect(path.code).toBe(2);
    expect(path.stderr).toContain('Tunnel path "//evil.example/t"');
    const sni = await tunnel([...BASE, "--sni", "192.0.2.1:443"]);
    expect(sni.code).toBe(2);
    expect(sni.stderr).toContain("is not a DNS name");
  });

  it("shares knock's checks and exit code for everything else", async () => {
    const noUser = await tunnel([
      "https://gw.example.net",
      "-s",
      "/a",
      "--code",
      "123456",
      "--ws",
      "/t",
    ]);
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toContain("No user");
    const badCode = await tunnel([
      "https://gw.example.net",
      "-s",
      "/a",
      "-u",
      "a",
      "--code",
      "12",
      "--ws",
      "/t",
    ]);
    expect(badCode.code).toBe(2);
    const ftp = await tunnel([
      "ftp://gw.example.net",
      "-s",
      "/a",
      "-u",
      "a",
      "--code",
      "123456",
      "--ws",
      "/t",
    ]);
    expect(ftp.code).toBe(2);
  });

  it("takes the route from the profile, flags winning; a profile with both must be told", async () => {
    const profile = (extra: string) => ({
      "/c.yaml": `profiles:\n  home:\n    url: https://gw.example.net\n    sequence: [/a]\n    user: alice\n${extra}`,
    });
    const both = await tunnel(
      ["--profile", "home", "--client-config", "/c.yaml", "--code", "123456"],
      profile("    tunnelPath: /t/1\n    tunnelSni: ssh.example.net\n"),
    );
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("both tunnelPath and tunnelSni");
    const bad = await tunnel(
      ["--profile", "home", "--client-config", "/c.yaml", "--code", "123456"],
      profile("    tunnelSni: -bad-\n"),
    );
    expect(bad.code).toBe(2);
    const unknown = await tunnel(
      ["--profile", "home", "--client-config", "/c.yaml", "--code", "123456"],
      profile("    tunnel: /t\n"),
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("tunnel");
  });

  it("refuses a proxy it cannot use as bad arguments, and needs stdin/stdout", async () => {
    const noIo = await tunnel([...BASE, "--ws", "/t"], {}, false);
    expect(noIo.code).toBe(2);
    expect(noIo.stdout).toBe("");
  });
});
