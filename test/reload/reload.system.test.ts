import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSecret } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdminClient } from "../../src/client/admin.js";
import { knock } from "../../src/client/knock.js";
import { currentTotp } from "../../src/knock/totp.js";
import { cli } from "../support/cli.js";
import { spawnCli, type CliProcess } from "../support/spawn-cli.js";
import { waitFor } from "../support/wait.js";

/** A TOTP code is good once per user and time step: every knock of the loop has its own user. */
const LOOP_USERS = Array.from({ length: 120 }, (_, i) => `u${i}`);
const SSH = ["/a/11", "/a/22", "/a/33"];
const WEB_USERS = ["webber", "w2"];
const WITH_NEWCOMER = [...LOOP_USERS, "newcomer"];
const TOKEN = "reload-test-admin-token-0123456789";

/**
 * `webknock serve` in a real process, reloaded with SIGHUP and `webknock reload` while a
 * knock loop runs against it: nothing a reload touches may fail a knock.
 */
describe("live reload", () => {
  let dir = "";
  let serve: CliProcess;
  let url = "";
  let admin: AdminClient;
  let adminUrl = "";
  let adminPort = 0;
  const secrets = new Map<string, string>();
  const configPath = () => join(dir, "webknock.yaml");

  /**
   * Writes the config: the loop's door (ssh, for `loop` users), a second door whose
   * sequence changes (web, for webber and w2, or none), and `extra` lines.
   */
  const writeConfig = (o: { web?: string[] | false; loop?: string[]; extra?: string } = {}) => {
    const loop = o.loop ?? LOOP_USERS;
    const web = o.web ?? ["/w/1", "/w/2"];
    const users = [...loop, ...(web === false ? [] : WEB_USERS)];
    for (const user of users) {
      if (secrets.has(user)) continue;
      const secret = generateSecret();
      secrets.set(user, secret);
      writeFileSync(join(dir, `${user}.secret`), `${secret}\n`, { mode: 0o600 });
    }
    writeFileSync(
      configPath(),
      [
        "server:",
        "  listen: [{host: 127.0.0.1, port: 0}]",
        "firewall: {backend: log}",
        `admin: {tokenFile: ${join(dir, "admin.token")}, listen: {host: 127.0.0.1, port: ${adminPort}}}`,
        "doors:",
        `  ssh: {sequence: [${SSH.join(", ")}], open: [tcp/22], openFor: 60s, users: [${loop.join(", ")}]}`,
        web === false
          ? ""
          : `  web: {sequence: [${web.join(", ")}], open: [tcp/8443], openFor: 60s, users: [${WEB_USERS.join(", ")}]}`,
        "users:",
        ...users.map((u) => `  ${u}: {secretFile: ${join(dir, `${u}.secret`)}}`),
        o.extra ?? "",
      ].join("\n"),
    );
  };
  const knockAs = async (user: string, sequence = SSH) =>
    knock({
      url,
      sequence,
      user,
      code: () => currentTotp(secrets.get(user) ?? "", Date.now()),
      timeoutMs: 5000,
    });
  const count = (event: string) => serve.stdout().split(`"event":"${event}"`).length - 1;
  const hup = async () => {
    const before = count("reloaded") + count("reload-refused");
    serve.child.kill("SIGHUP");
    await waitFor(
      "the reload's outcome is logged",
      () => count("reloaded") + count("reload-refused") > before,
      {
        timeoutMs: 10_000,
      },
    );
  };

  beforeAll(async () => {
    adminPort = await freePort();
    dir = mkdtempSync(join(tmpdir(), "webknock-reload-"));
    writeFileSync(join(dir, "admin.token"), `${TOKEN}\n`);
    chmodSync(join(dir, "admin.token"), 0o600);
    writeConfig();
    serve = spawnCli(["serve", "-c", configPath()]);
    const started = await serve.waitFor(
      /"urls":\["(http:\/\/127\.0\.0\.1:\d+)"\],"adminUrl":"(http:\/\/127\.0\.0\.1:\d+)"/,
      30_000,
    );
    url = started[1] ?? "";
    adminUrl = started[2] ?? "";
    admin = new AdminClient({ url: adminUrl, token: TOKEN });
  }, 40_000);
  afterAll(async () => {
    await serve.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps a knock loop succeeding through SIGHUP reloads that change a door and add a user", async () => {
    const failures: string[] = [];
    const granted: string[] = [];
    // Knocks from one IP on one door must not overlap (progress is per door and IP), so
    // every knock on the loop's door, the new user's too, goes through this one loop.
    const queue = LOOP_USERS.slice(0, 100);
    const state = { running: true };
    const loop = (async () => {
      while (state.running && queue.length > 0) {
        const user = queue.shift() ?? "";
        await knockAs(user).then(
          () => granted.push(user),
          (error: unknown) => failures.push(`${user}: ${(error as Error).message}`),
        );
      }
    })();
    await waitFor("the loop knocks", () => granted.length >= 3, { timeoutMs: 10_000 });
    // 1: another door's sequence changes; the loop's door does not.
    writeConfig({ web: ["/w/3", "/w/4", "/w/5"] });
    await hup();
    await expect(knockAs("webber", ["/w/3", "/w/4", "/w/5"])).resolves.toMatchObject({
      door: "web",
    });
    // 2: a user is added to the loop's door.
    writeConfig({ web: ["/w/3", "/w/4", "/w/5"], loop: WITH_NEWCOMER });
    await hup();
    queue.unshift("newcomer");
    await waitFor("the new user's knock opens", () => granted.includes("newcomer"), {
      timeoutMs: 10_000,
    });
    // 3 and 4: limits change (new defences), then nothing changes at all.
    writeConfig({
      web: ["/w/3", "/w/4", "/w/5"],
      loop: WITH_NEWCOMER,
      extra: "limits: {maxFailures: 7}",
    });
    await hup();
    const beforeLast = granted.length;
    await hup();
    await waitFor("the loop knocks after the last reload", () => granted.length > beforeLast + 2, {
      timeoutMs: 10_000,
    });
    state.running = false;
    await loop;
    expect(failures).toEqual([]);
    expect(count("reloaded")).toBe(4);
    expect(count("reload-refused")).toBe(0);
    expect(granted.length).toBeGreaterThanOrEqual(6);
    expect(serve.stdout()).toContain('"changes":["doors changed: web"]');
    expect(serve.stdout()).toContain('"changes":["doors changed: ssh","users added: newcomer"]');
  }, 50_000);

  it("refuses an invalid file with one log line per problem; the CLI prints them and exits 2", async () => {
    const before = serve.stdout().length;
    writeFileSync(
      configPath(),
      [
        "server:",
        "  listen: [{host: 127.0.0.1, port: 8081}]",
        "firewall: {backend: log}",
        `admin: {tokenFile: ${join(dir, "admin.token")}, listen: {host: 127.0.0.1, port: ${adminPort}}}`,
        "doors:",
        `  ssh: {sequence: [${SSH.join(", ")}], open: [tcp/22], openFor: soon, users: [u0, ghost]}`,
        "users:",
        `  u0: {secretFile: ${join(dir, "u0.secret")}}`,
      ].join("\n"),
    );
    await hup();
    const logged = serve
      .stdout()
      .slice(before)
      .split("\n")
      .filter((line) => line.includes('"event":"reload-refused"'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain("doors.ssh.openFor");

    const run = await cli(["reload", "--admin-url", adminUrl], {
      WEBKNOCK_ADMIN_TOKEN: TOKEN,
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("reload refused; the gateway keeps its old config");
    expect(run.stderr).toContain('doors.ssh.openFor: got "soon"');

    // Valid YAML, valid schema, but two problems of the resolved config and a restart-only key.
    writeFileSync(
      configPath(),
      [
        "server:",
        "  listen: [{host: 127.0.0.1, port: 8081}]",
        "firewall: {backend: log}",
        `admin: {tokenFile: ${join(dir, "admin.token")}, listen: {host: 127.0.0.1, port: ${adminPort}}}`,
        "doors:",
        `  ssh: {sequence: [${SSH.join(", ")}], open: [tcp/22], users: [u0, ghost]}`,
        `  web: {sequence: [${SSH[0] ?? ""}], open: [tcp/8443], users: [u0]}`,
        "users:",
        `  u0: {secretFile: ${join(dir, "u0.secret")}}`,
      ].join("\n"),
    );
    const second = await cli(["reload", "--admin-url", adminUrl], {
      WEBKNOCK_ADMIN_TOKEN: TOKEN,
    });
    expect(second.code).toBe(2);
    const problems = second.stderr.split("\n").filter((line) => line.startsWith("  - "));
    expect(problems).toEqual([
      expect.stringContaining('doors.ssh.users[1]: user "ghost" is not defined'),
      expect.stringContaining("doors.web.sequence[0]"),
    ]);
    // The restart-only key is checked once the file is valid.
    writeConfig({ web: ["/w/3", "/w/4", "/w/5"], loop: WITH_NEWCOMER });
    writeFileSync(
      configPath(),
      readFileSync(configPath(), "utf8").replace("port: 0}]", "port: 8081}]"),
    );
    const third = await cli(["reload", "--admin-url", adminUrl, "--json"], {
      WEBKNOCK_ADMIN_TOKEN: TOKEN,
    });
    expect(third.code).toBe(2);
    expect(JSON.parse(third.stdout)).toEqual({
      ok: false,
      problems: [
        expect.stringMatching(
          /^server\.listen\[0\]\.port: changed from 0 to 8081; this needs a restart/,
        ),
      ],
    });
    const refusals = serve.stdout().slice(before).split('"event":"reload-refused"').length - 1;
    expect(refusals).toBe(1 + 1 + 2 + 1); // SIGHUP and three `webknock reload`s
    // Still on the old config: the loop's door and the changed web door open as before.
    await expect(knockAs("u119")).resolves.toMatchObject({ door: "ssh" });
  }, 30_000);

  it("closes a removed door's live grant through the firewall and the store", async () => {
    writeConfig({ web: ["/w/3", "/w/4", "/w/5"], loop: WITH_NEWCOMER });
    expect(
      (await cli(["reload", "--admin-url", adminUrl], { WEBKNOCK_ADMIN_TOKEN: TOKEN })).code,
    ).toBe(0);
    await knockAs("w2", ["/w/3", "/w/4", "/w/5"]);
    expect((await admin.listGrants()).map((g) => g.door)).toContain("web");
    const before = serve.stdout().length;
    writeConfig({ web: false, loop: WITH_NEWCOMER });
    const run = await cli(["reload", "--admin-url", adminUrl], { WEBKNOCK_ADMIN_TOKEN: TOKEN });
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe("Reloaded: doors removed: web; users removed: webber, w2.\n");
    expect((await admin.listGrants()).map((g) => g.door)).not.toContain("web");
    const after = serve.stdout().slice(before);
    expect(after).toMatch(/"event":"revoke","door":"web","ip":"127\.0\.0\.1","user":"w2"/);
    expect(after).toMatch(/"-D","WEBKNOCK[^"]*","-s","127\.0\.0\.1","-p","tcp","--dport","8443"/);

    // The admin token rotates live: the reload asked with the old one, which then stops working.
    const newToken = "rotated-admin-token-9876543210";
    writeFileSync(join(dir, "admin.token"), `${newToken}\n`);
    const rotate = await cli(["reload", "--admin-url", adminUrl], { WEBKNOCK_ADMIN_TOKEN: TOKEN });
    expect(rotate.stdout).toBe("Reloaded: admin token changed.\n");
    const old = await cli(["grants", "list", "--admin-url", adminUrl], {
      WEBKNOCK_ADMIN_TOKEN: TOKEN,
    });
    expect(old.code).toBe(3);
    const fresh = await cli(["grants", "list", "--admin-url", adminUrl], {
      WEBKNOCK_ADMIN_TOKEN: newToken,
    });
    expect(fresh.code).toBe(0);
  }, 20_000);
});

/** A port nothing listens on now (the admin API needs a fixed one). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
