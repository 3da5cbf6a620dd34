import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const base = {
  firewall: { backend: "log" },
  doors: { d: { sequence: ["/a"], open: ["tcp/22"], users: ["u"] } },
  users: { u: { secret: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT" } },
};
const TOKEN = "0123456789abcdef0123";
const sources = {
  env: { ADMIN_TOKEN: TOKEN, SHORT: "short" },
  readFile: (path: string) => {
    if (path === "/etc/token") return `${TOKEN}\n`;
    throw Object.assign(new Error("no such file"), { code: "ENOENT" });
  },
  fileMode: () => 0o600,
};
const load = (admin: unknown) => resolveConfig({ ...base, admin }, sources);
const problems = (admin: unknown): string => {
  try {
    load(admin);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.join("\n");
    throw error;
  }
  return "";
};

describe("admin config", () => {
  it("is off without an admin section", () => {
    expect(resolveConfig(base, sources).admin).toBeUndefined();
  });

  it("defaults to 127.0.0.1:9090 and reads the token from a file or the environment", () => {
    expect(load({ tokenFile: "/etc/token" })).toMatchObject({
      admin: { listen: { host: "127.0.0.1", port: 9090 }, token: TOKEN },
    });
    expect(load({ tokenEnv: "ADMIN_TOKEN", listen: { host: "::1", port: 9191 } }).admin).toEqual({
      listen: { host: "::1", port: 9191 },
      token: TOKEN,
    });
  });

  it("refuses to run without a usable token, naming the key and never the token", () => {
    expect(problems({})).toContain("exactly one of tokenFile or tokenEnv");
    expect(problems({ tokenFile: "/etc/token", tokenEnv: "ADMIN_TOKEN" })).toContain("exactly one");
    expect(problems({ tokenFile: "/missing" })).toMatch(
      /admin.tokenFile: cannot read \/missing \(ENOENT\)/,
    );
    expect(problems({ tokenEnv: "UNSET" })).toContain("admin.tokenEnv: environment variable UNSET");
    const short = problems({ tokenEnv: "SHORT" });
    expect(short).toContain("at least 16 characters");
    expect(short).not.toContain("short;");
    expect(problems({ tokenEnv: "ADMIN_TOKEN", extra: 1 })).toContain('unknown key(s) "extra"');
  });
});
