import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";
import { formatCredentials } from "../../src/passkey/credentials.js";

const SECRET = "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT";
const FILE = "/etc/webknock/alice.passkeys";
const SERVER = { rpId: "knock.example.net", origin: "https://knock.example.net" };

/** Files the loader may read: path -> [text, mode]; anything else is ENOENT. */
type Files = Readonly<Record<string, readonly [string, number]>>;

function load(
  user: Record<string, unknown>,
  server: Record<string, unknown> = SERVER,
  files: Files = {},
) {
  const missing = (path: string) =>
    Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" }) as NodeJS.ErrnoException;
  return resolveConfig(
    {
      server,
      firewall: { backend: "log" },
      doors: { ssh: { sequence: ["/a1"], open: ["tcp/22"], users: ["alice"] } },
      users: { alice: user },
    },
    {
      env: {},
      readFile: (path) => {
        const found = files[path];
        if (found === undefined) throw missing(path);
        return found[0];
      },
      fileMode: (path) => files[path]?.[1] ?? 0o600,
    },
  );
}

function problems(...args: Parameters<typeof load>): string {
  try {
    load(...args);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.join("\n");
    throw error;
  }
  return "";
}

describe("passkey config", () => {
  it("allows a passkey-only user: factors default to what is given, no secret needed", () => {
    const alice = load({ passkeys: FILE }).users.get("alice");
    expect(alice).toMatchObject({ factors: ["passkey"], passkeys: FILE });
    expect(alice?.secret).toBeUndefined();
    expect(load({ secret: SECRET, passkeys: FILE }).users.get("alice")?.factors).toEqual([
      "totp",
      "passkey",
    ]);
    expect(load({ secret: SECRET }, {}).users.get("alice")?.factors).toEqual(["totp"]);
  });

  it.each([
    [
      { passkeys: FILE, factors: ["totp", "passkey"] },
      "users.alice: got [];",
      "factors lists totp; give exactly one of secretFile, secretEnv or secret",
    ],
    [
      { secret: SECRET, factors: ["passkey"] },
      "users.alice:",
      "factors lists passkey; set passkeys",
    ],
    [
      { secret: SECRET, passkeys: FILE, factors: ["passkey"] },
      "users.alice:",
      "a TOTP secret is given but factors does not list totp",
    ],
    [
      { secret: SECRET, passkeys: FILE, factors: ["totp"] },
      "users.alice:",
      "passkeys is set but factors does not list passkey",
    ],
    [{ passkeys: FILE, factors: [] }, "users.alice.factors:", "list totp, passkey or both"],
    [
      { passkeys: FILE, factors: ["passkey", "passkey"] },
      "users.alice.factors:",
      "list each factor once",
    ],
    [{ passkeys: FILE, factors: ["sms"] }, "users.alice.factors[0]:", "list totp, passkey or both"],
    [{}, "users.alice:", "give exactly one of secretFile, secretEnv or secret (or passkeys"],
  ])("refuses %j", (user, key, fix) => {
    const text = problems(user);
    expect(text).toContain(key);
    expect(text).toContain(fix);
  });

  it("requires server.rpId and server.origin once a user has passkeys", () => {
    const text = problems({ passkeys: FILE }, {});
    expect(text).toContain("server.rpId: is required because users alice use passkeys");
    expect(text).toContain("server.origin: is required because users alice use passkeys");
    expect(text).toContain("secure context: an https:// origin, or http://localhost for tests");
  });

  it("explains the secure-context rule: HTTPS, or localhost for tests", () => {
    expect(
      problems({ passkeys: FILE }, { rpId: "localhost", origin: "http://localhost:8080" }),
    ).toBe("");
    const plain = problems(
      { passkeys: FILE },
      { rpId: "knock.example.net", origin: "http://knock.example.net" },
    );
    expect(plain).toContain(
      'server.origin: got "http://knock.example.net"; browsers offer passkeys only in a secure context',
    );
    expect(plain).toContain("Serve HTTPS");
  });

  it("wants the RP ID to be the origin's host or a parent domain of it", () => {
    expect(
      problems({ passkeys: FILE }, { rpId: "example.net", origin: "https://knock.example.net" }),
    ).toBe("");
    expect(
      problems({ passkeys: FILE }, { rpId: "other.net", origin: "https://knock.example.net" }),
    ).toContain(
      'server.rpId: got "other.net", which is not the host of server.origin (knock.example.net) or a parent domain of it',
    );
    expect(problems({ passkeys: FILE }, { rpId: "10.0.0.1", origin: "https://10.0.0.1" })).toMatch(
      /server.rpId: got "10.0.0.1"/,
    );
    expect(
      problems({ passkeys: FILE }, { ...SERVER, origin: "https://knock.example.net/" }),
    ).toContain("server.origin: got");
  });

  it("refuses a passkey file group or others may read, and one that does not parse", () => {
    const good = formatCredentials([]);
    expect(problems({ passkeys: FILE }, SERVER, { [FILE]: [good, 0o600] })).toBe("");
    expect(problems({ passkeys: FILE }, SERVER, { [FILE]: [good, 0o644] })).toContain(
      `users.alice.passkeys: ${FILE} has mode 0644, so group or others may read or change the passkeys; run chmod 600 ${FILE}`,
    );
    expect(problems({ passkeys: FILE }, SERVER, { [FILE]: ["{}", 0o600] })).toContain(
      "it is not a webknock passkey file",
    );
  });
});
