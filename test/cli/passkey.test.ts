import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredentials, writeCredentials } from "../../src/passkey/credentials.js";
import { cli } from "../support/cli.js";

describe("webknock user passkey", () => {
  let dir: string;
  let config: string;
  let file: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "webknock-passkey-cli-"));
    file = join(dir, "alice.passkeys");
    config = join(dir, "webknock.yaml");
    writeFileSync(
      config,
      `server: {rpId: localhost, origin: "http://localhost:8080"}
firewall: {backend: log}
doors: {ssh: {sequence: [/a1], open: [tcp/22], users: [alice, bob]}}
users:
  alice: {passkeys: ${file}}
  bob: {secret: NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT}
`,
    );
    const entry = (id: string) => ({
      id,
      publicKey: "pQECAyYgASFY",
      counter: 3,
      transports: ["internal"],
      createdAt: "2026-12-02T10:00:00.000Z",
    });
    await writeCredentials(file, [entry("Q1a2b3c4d5"), entry("Q1zzzzzzzz"), entry("R9xxxxxxxx")]);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("config check names each user's factors and the passkey origin's secure context", async () => {
    const run = await cli(["config", "check", "-c", config]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain("users:    alice (passkey), bob (totp)");
    expect(run.stdout).toContain(
      "passkeys: RP ID localhost, origin http://localhost:8080 (secure context: localhost, for tests only: browsers elsewhere need HTTPS); enrollment needs store.redis",
    );
  });

  it("lists a user's passkeys without their public keys", async () => {
    const run = await cli(["user", "passkey", "list", "alice", "-c", config]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Q1a2b3c4d5  added 2026-12-02T10:00:00.000Z  counter 3  internal");
    const json = await cli(["user", "passkey", "list", "alice", "-c", config, "--json"]);
    expect(JSON.parse(json.stdout)).toHaveLength(3);
    expect(json.stdout).not.toContain("publicKey");
  });

  it("removes one passkey by a unique start of its ID, with an audit line", async () => {
    const ambiguous = await cli(["user", "passkey", "remove", "alice", "Q1", "-c", config]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toContain('"Q1" starts 2 passkeys\' IDs');
    const run = await cli(["user", "passkey", "remove", "alice", "R9", "-c", config]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(
      /"event":"passkey-removed","user":"alice","credential":"R9xxxxxxxx"/,
    );
    expect((await readCredentials(file)).map((c) => c.id)).toEqual(["Q1a2b3c4d5", "Q1zzzzzzzz"]);
    const none = await cli(["user", "passkey", "remove", "alice", "-c", config]);
    expect(none.stderr).toContain("or --all");
  });

  it("says what is missing for a user without passkeys, and for a store the gateway does not share", async () => {
    const bob = await cli(["user", "passkey", "list", "bob", "-c", config]);
    expect(bob.code).toBe(2);
    expect(bob.stderr).toContain("users.bob has no passkey file");
    const add = await cli(["user", "passkey", "add", "alice", "-c", config]);
    expect(add.code).toBe(2);
    expect(add.stderr).toContain("Set store.redis");
  });
});
