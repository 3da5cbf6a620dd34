import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadConfigFile, resolveConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const SECRET = "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT";

interface Raw {
  server: { listen: unknown[]; trustProxy: unknown };
  firewall: { backend: string };
  doors: { ssh: Record<string, unknown>; web?: Record<string, unknown> };
  users: { alice: Record<string, unknown> };
}

const valid = (): Raw => ({
  server: { listen: [{ host: "127.0.0.1", port: 8080 }], trustProxy: [] },
  firewall: { backend: "log" },
  doors: {
    ssh: {
      sequence: ["/img/a81f3c.png", "/p/2021/b7d2e4", "/s/c9e044.css"],
      sequenceTimeout: "20s",
      challengeTimeout: "60s",
      open: ["tcp/22"],
      openFor: "30s",
      users: ["alice"],
    },
  },
  users: { alice: { secretFile: "/etc/webknock/alice.totp" } },
});

const files: Record<string, string> = { "/etc/webknock/alice.totp": `${SECRET}\n` };
const sources = {
  env: { BOB_SECRET: SECRET },
  readFile: (path: string) => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    return text;
  },
  fileMode: () => 0o600,
};

function problemsOf(raw: unknown): string[] {
  try {
    resolveConfig(raw, sources);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe("config", () => {
  it("resolves the example shape with durations, ports and the secret file", () => {
    const config = resolveConfig(valid(), sources);
    const door = config.doors[0];
    expect(door?.sequenceTimeoutMs).toBe(20_000);
    expect(door?.openForMs).toBe(30_000);
    expect(door?.open).toEqual([{ proto: "tcp", port: 22 }]);
    expect(config.users.get("alice")?.secret).toBe(SECRET);
    expect(config.store.redis).toBeUndefined();
  });

  it("loads the shipped example file's structure", () => {
    const example = loadConfigFile("config/webknock.example.yaml", {
      env: {},
      readFile: (path) => (path.endsWith(".totp") ? SECRET : readFileSync(path, "utf8")),
      fileMode: () => 0o600,
    });
    expect(example.doors.map((d) => d.name)).toEqual(["ssh"]);
    // Trusting a proxy is a decision with a second half (overwriting the header): never a default.
    expect(example.server.trustProxy).toEqual([]);
  });

  it.each([
    ["doors.ssh.openFor", (c: Raw) => (c.doors.ssh.openFor = "30x"), /"30x".*such as 30s/],
    ["doors.ssh.open[0]", (c: Raw) => (c.doors.ssh.open = ["tcp/99999"]), /tcp\/22/],
    ["doors.ssh.sequence[1]", (c: Raw) => (c.doors.ssh.sequence = ["/a", "b"]), /absolute path/],
    ["doors.ssh.sequence", (c: Raw) => (c.doors.ssh.sequence = []), /1 to 16/],
    [
      "doors.ssh.users[0]",
      (c: Raw) => (c.doors.ssh.users = ["mallory"]),
      /"mallory" is not defined/,
    ],
    ["server.trustProxy", (c: Raw) => (c.server.trustProxy = true), /forge its IP/],
    ["server.trustProxy", (c: Raw) => (c.server.trustProxy = 2), /hop count/],
    ["server.trustProxy[0]", (c: Raw) => (c.server.trustProxy = ["10.0.0.0/33"]), /"10.0.0.0\/33"/],
    ["firewall.backend", (c: Raw) => (c.firewall.backend = "pf"), /got "pf"; choose one of/],
    [
      "users.alice.secretFile",
      (c: Raw) => (c.users.alice.secretFile = "/nope"),
      /cannot read \/nope \(ENOENT\)/,
    ],
    ["doors.ssh", (c: Raw) => (c.doors.ssh.opnFor = "30s"), /unknown key.*"opnFor"/],
  ])("names %s, the bad value and the fix", (key, mutate, message) => {
    const raw = valid();
    mutate(raw);
    const problems = problemsOf(raw);
    expect(problems.some((p) => p.startsWith(`${key}:`) && message.test(p))).toBe(true);
  });

  it("refuses a short or non-base32 secret without echoing it", () => {
    const raw = valid();
    raw.users.alice = { secret: "hunter2!" };
    const [problem] = problemsOf(raw);
    expect(problem).toMatch(/^users\.alice\.secret: .*base32.*at least 26/);
    expect(problem).not.toContain("hunter2");
  });

  it("reads a secret from the environment and reports a missing variable", () => {
    const raw = valid();
    raw.users.alice = { secretEnv: "BOB_SECRET" };
    expect(resolveConfig(raw, sources).users.get("alice")?.secret).toBe(SECRET);
    raw.users.alice = { secretEnv: "MISSING_VAR" };
    expect(problemsOf(raw)[0]).toMatch(/MISSING_VAR is not set/);
  });

  it("refuses a path used by two doors", () => {
    const raw = valid();
    raw.doors.web = { ...raw.doors.ssh, open: ["tcp/443"] };
    expect(problemsOf(raw).join("\n")).toMatch(
      /doors\.web\.sequence\[0\].*already a step of doors\.ssh/,
    );
  });

  it("reports YAML syntax errors with the file name", () => {
    const yamlSources = { env: {}, readFile: () => "doors: [unclosed" };
    expect(() => loadConfigFile("broken.yaml", yamlSources)).toThrow(
      /broken\.yaml.*not valid YAML/s,
    );
  });

  it("round-trips through YAML", () => {
    const text = stringify(valid());
    const config = loadConfigFile("x.yaml", {
      env: {},
      readFile: (p) => (p === "x.yaml" ? text : (files[p] ?? "")),
      fileMode: () => 0o600,
    });
    expect(config.doors[0]?.sequence).toHaveLength(3);
  });
});
