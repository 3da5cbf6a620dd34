import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { windowPaths } from "../../src/sequence/derive.js";
import { cli } from "../support/cli.js";

const SECRET = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
/** 2026-12-02T10:22:48Z: 2m 48s into a 10-minute window. */
const NOW = Date.UTC(2026, 11, 2, 10, 22, 48);

/** The CLI with a fixed clock, so the printed paths and times can be checked exactly. */
const cliAt = (now: number, argv: readonly string[]) => cli(argv, {}, () => now);

describe("webknock door key and sequence show", () => {
  let dir: string;
  let configFile: string;
  let keyFile: string;
  /** The gateway's view of door api at NOW, as full URLs. */
  const showApi = () =>
    cliAt(NOW, ["sequence", "show", "api", "-c", configFile, "--url", "https://gw.example.net/"]);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "webknock-door-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes a 256-bit key with mode 0600 and prints YAML the gateway loads", async () => {
    const keyDir = join(dir, "keys");
    const run = await cli(["door", "key", "api", "--key-dir", keyDir, "--rotate", "15m"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    keyFile = join(keyDir, "api.seqkey");
    expect(readFileSync(keyFile, "utf8")).toMatch(/^[0-9a-f]{64}\n$/);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(statSync(keyDir).mode & 0o777).toBe(0o700);
    expect(run.stdout).toContain(
      `doors:\n  api:\n    sequence:\n      rotate: 15m\n      steps: 3\n      keyFile: ${keyFile}\n`,
    );
    expect(run.stdout).toContain("    sequenceKeyFile: ~/.config/webknock/api.seqkey\n");

    // Paste the snippet into a config: it loads, and `config check` says the door rotates.
    const snippet = run.stdout.slice(run.stdout.indexOf("doors:"), run.stdout.indexOf("\n\nGive"));
    const doors = (parse(snippet) as { doors: { api: Record<string, unknown> } }).doors;
    configFile = join(dir, "webknock.yaml");
    writeFileSync(
      configFile,
      stringify({
        firewall: { backend: "log" },
        doors: {
          api: { ...doors.api, open: ["tcp/22"], users: ["alice"] },
          ssh: { sequence: ["/img/a81f3c.png"], open: ["tcp/22"], users: ["alice"] },
        },
        users: { alice: { secret: SECRET } },
      }),
    );
    const check = await cli(["config", "check", "-c", configFile]);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain("door api: 3 steps rotating every 15m within 20s");
  });

  it("refuses to overwrite a key without --force, and --force writes a new one", async () => {
    const before = readFileSync(keyFile, "utf8");
    const refused = await cli(["door", "key", "api", "--key-dir", join(dir, "keys")]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${keyFile} already exists; refusing to overwrite it`);
    expect(readFileSync(keyFile, "utf8")).toBe(before);
    const forced = await cli(["door", "key", "api", "--key-dir", join(dir, "keys"), "--force"]);
    expect(forced.code).toBe(0);
    expect(readFileSync(keyFile, "utf8")).not.toBe(before);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
  });

  it("refuses bad names, durations and step counts", async () => {
    for (const argv of [
      ["door", "key", "Api!"],
      ["door", "key", "api", "--rotate", "10x"],
      ["door", "key", "api", "--steps", "17"],
    ]) {
      const run = await cli([...argv, "--key-dir", join(dir, "bad")]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/^webknock: .*(a-z|duration|1 to 16)/);
    }
  });

  it("shows the current paths, when they change and until when they work", async () => {
    const key = Buffer.from(readFileSync(keyFile, "utf8").trim(), "hex");
    const window = Math.floor(NOW / 900_000); // 15m windows: 10:15 to 10:30
    const paths = windowPaths(key, window, 3);
    const run = await showApi();
    expect(run.stderr).toBe("");
    expect(run.stdout).toBe(
      [
        "Door api: 3 paths, new every 15m. Current paths, in order:",
        ...paths.map((p, i) => `  ${String(i + 1)}. https://gw.example.net${p}`),
        "They change at 2026-12-02T10:30:00.000Z (in 7m 12s) and are accepted until 2026-12-02T10:45:00.000Z.",
        "",
      ].join("\n"),
    );
    const json = await cliAt(NOW, ["sequence", "show", "api", "-c", configFile, "--json"]);
    expect(JSON.parse(json.stdout)).toEqual({
      door: "api",
      paths,
      rotates: true,
      rotate: "15m",
      since: "2026-12-02T10:15:00.000Z",
      changesAt: "2026-12-02T10:30:00.000Z",
      acceptedUntil: "2026-12-02T10:45:00.000Z",
      refused: [],
    });
    const later = await cliAt(NOW + 900_000, ["sequence", "show", "api", "-c", configFile]);
    for (const path of paths) expect(later.stdout).not.toContain(path);
  });

  it("shows the same paths from a client profile holding a copy of the key", async () => {
    const clientConfig = join(dir, "client.yaml");
    writeFileSync(
      clientConfig,
      `profiles:\n  api:\n    url: https://gw.example.net\n    sequenceKeyFile: ${keyFile}\n    rotate: 15m\n    steps: 3\n`,
    );
    const fromProfile = await cliAt(NOW, [
      "sequence",
      "show",
      "--profile",
      "api",
      "--client-config",
      clientConfig,
    ]);
    expect(fromProfile.stderr).toBe("");
    const fromGateway = await showApi();
    expect(fromProfile.stdout).toBe(fromGateway.stdout);
    const both = await cliAt(NOW, ["sequence", "show", "api", "--profile", "api"]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe("webknock: Give either DOOR -c FILE or --profile NAME, not both.\n");
  });

  it("marks a path another door holds, and says how to fix it", async () => {
    const key = Buffer.from(readFileSync(keyFile, "utf8").trim(), "hex");
    const held = windowPaths(key, Math.floor(NOW / 900_000), 3)[1] ?? "";
    const raw = parse(readFileSync(configFile, "utf8")) as { doors: Record<string, unknown> };
    raw.doors.web = { sequence: [held], open: ["tcp/80"], users: ["alice"] };
    const clashing = join(dir, "clash.yaml");
    writeFileSync(clashing, stringify(raw));
    const run = await cliAt(NOW, ["sequence", "show", "api", "-c", clashing]);
    expect(run.stdout).toContain(`  2. ${held}   (held by door web)\n`);
    expect(run.stdout).toContain("Write a new key: webknock door key api --force");
  });

  it("shows a static door's paths, and names the doors when asked for an unknown one", async () => {
    const run = await cliAt(NOW, ["sequence", "show", "ssh", "-c", configFile]);
    expect(run.stdout).toBe(
      "Door ssh does not rotate; its paths, in order:\n  1. /img/a81f3c.png\n",
    );
    const unknown = await cliAt(NOW, ["sequence", "show", "web", "-c", configFile]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('webknock: No door "web" in the config; it has api, ssh.\n');
  });
});
