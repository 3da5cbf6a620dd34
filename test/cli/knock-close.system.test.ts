import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli } from "../support/cli.js";
import { startListeningGateway, TEST_SEQUENCE, type ListeningGateway } from "../support/gateway.js";

const SEQUENCE = TEST_SEQUENCE.join(",");

/** `webknock knock --close` against a real gateway: what it closes and its exit codes. */
describe("webknock knock --close", () => {
  let gw: ListeningGateway;
  let dir: string;
  /** The CLI's environment: its state (close tokens) and client config live in `dir`. */
  let env: NodeJS.ProcessEnv;
  const secretFile = (user: string) => join(dir, `${user}.secret`);
  const tokenFile = (slot: string) => join(dir, "state", "webknock", "close", `${slot}.json`);

  beforeAll(async () => {
    gw = await startListeningGateway({ users: ["alice", "bob", "carol"] });
    dir = mkdtempSync(join(tmpdir(), "webknock-close-"));
    env = { XDG_STATE_HOME: join(dir, "state"), XDG_CONFIG_HOME: join(dir, "config") };
    for (const [user, secret] of gw.secrets) writeFileSync(secretFile(user), `${secret}\n`);
  });
  afterAll(async () => {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const knock = (user: string, extra: string[] = []) =>
    cli(
      ["knock", gw.url, "-s", SEQUENCE, "-u", user, "--secret-file", secretFile(user), ...extra],
      env,
    );

  it("keeps the token 0600, closes with it (exit 0), then has none (exit 2) and a spent one is refused (exit 3)", async () => {
    const opened = await knock("alice", ["--json"]);
    expect(opened.code).toBe(0);
    const token = (JSON.parse(opened.stdout) as { granted: { close: { token: string } } }).granted
      .close.token;
    const saved = JSON.parse(readFileSync(tokenFile("default"), "utf8")) as Record<string, unknown>;
    expect(saved).toMatchObject({ door: "ssh", ip: "127.0.0.1", token, url: TEST_SEQUENCE[2] });
    expect(statSync(tokenFile("default")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "state", "webknock", "close")).mode & 0o777).toBe(0o700);
    expect(await gw.firewall.list()).toHaveLength(2);

    const closed = await cli(["knock", gw.url, "-s", SEQUENCE, "--close"], env);
    expect(closed.stderr).toBe("");
    expect(closed.code).toBe(0);
    expect(closed.stdout).toBe(
      "Closed tcp/22, udp/51820 for 127.0.0.1 (door ssh); open connections stay up.\n",
    );
    expect(await gw.firewall.list()).toEqual([]);
    expect(() => statSync(tokenFile("default"))).toThrow(/ENOENT/);

    const none = await cli(["knock", gw.url, "-s", SEQUENCE, "--close"], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("No close token");

    const spent = await cli(
      ["knock", gw.url, "-s", SEQUENCE, "--close", "--token", token, "--json"],
      env,
    );
    expect(spent.code).toBe(3);
    expect(JSON.parse(spent.stdout)).toMatchObject({
      error: "not-closed",
      code: "ERR_CLOSE_REFUSED",
    });
  });

  it("closes a profile's grant with the profile's token, leaving another slot's alone", async () => {
    const configDir = join(dir, "config", "webknock");
    rmSync(configDir, { recursive: true, force: true });
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      join(configDir, "client.yaml"),
      `profiles:\n  lab:\n    url: ${gw.url}\n    sequence: ${SEQUENCE}\n    user: bob\n    secretFile: ${secretFile("bob")}\n`,
    );
    expect((await cli(["knock", "--profile", "lab"], env)).code).toBe(0);
    expect(readFileSync(tokenFile("lab"), "utf8")).toContain('"door":"ssh"');
    // The default slot has no token: closing without the profile finds nothing.
    expect((await cli(["knock", gw.url, "-s", SEQUENCE, "--close"], env)).code).toBe(2);
    const closed = await cli(["knock", "--profile", "lab", "--close", "--json"], env);
    expect(closed.code).toBe(0);
    expect(JSON.parse(closed.stdout)).toEqual({
      closed: { door: "ssh", ip: "127.0.0.1", ports: ["tcp/22", "udp/51820"] },
    });
    expect(await gw.firewall.list()).toEqual([]);
  });

  it("refuses bad usage before sending (exit 2) and an unreachable gateway (exit 4)", async () => {
    const noClose = await cli(["knock", gw.url, "-s", SEQUENCE, "--token", "A".repeat(43)], env);
    expect(noClose.code).toBe(2);
    expect(noClose.stderr).toContain("--token goes with --close");
    const malformed = await cli(
      ["knock", gw.url, "-s", SEQUENCE, "--close", "--token", "a b"],
      env,
    );
    expect(malformed.code).toBe(2);
    const noSequence = await cli(["knock", gw.url, "--close", "--token", "A".repeat(43)], env);
    expect(noSequence.code).toBe(2);
    const unreachable = await cli(
      ["knock", "http://127.0.0.1:9", "-s", SEQUENCE, "--close", "--token", "A".repeat(43)],
      env,
    );
    expect(unreachable.code).toBe(4);
  });

  it("a wrong token closes nothing (exit 3) and the grant stays", async () => {
    expect((await knock("carol")).code).toBe(0);
    const wrong = await cli(
      ["knock", gw.url, "-s", SEQUENCE, "--close", "--token", "A".repeat(43)],
      env,
    );
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain("nothing was closed");
    expect(await gw.firewall.list()).toHaveLength(2);
  });
});
