import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateSecret } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentSequence } from "../../src/client/knock.js";
import { loadConfigFile } from "../../src/config/load.js";
import type { PortSpec } from "../../src/config/types.js";
import { LogFirewall } from "../../src/firewall/log.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { newKeyText } from "../../src/sequence/key.js";
import { MemoryStore } from "../../src/store/memory.js";

/** A dry-run firewall that records the protected ports of every `init`. */
class InitRecorder extends LogFirewall {
  readonly inits: string[][] = [];
  constructor() {
    super(() => undefined);
  }
  override init(ports: readonly PortSpec[]): Promise<void> {
    this.inits.push(ports.map((p) => `${p.proto}/${p.port}`));
    return super.init(ports);
  }
}

/** Reload in process, from real files: rotating keys, secrets, protected ports, refusals. */
describe("a reload re-reads every file the config names", () => {
  let dir = "";
  let gateway: Gateway;
  const firewall = new InitRecorder();
  const file = (name: string) => join(dir, name);
  const writeConfig = (o: { sshOpen?: string; redis?: boolean } = {}) => {
    writeFileSync(
      file("webknock.yaml"),
      [
        "server: {listen: [{host: 127.0.0.1, port: 0}]}",
        "firewall: {backend: log}",
        o.redis === true ? "store: {redis: redis://127.0.0.1:1}" : "",
        "doors:",
        `  ssh: {sequence: [/s/1, /s/2], open: [${o.sshOpen ?? "tcp/22"}], users: [alice]}`,
        `  rot: {sequence: {rotate: 10m, steps: 2, keyFile: ${file("rot.key")}}, open: [tcp/3389], users: [alice]}`,
        `users: {alice: {secretFile: ${file("alice.secret")}}}`,
      ].join("\n"),
    );
  };
  const rotatingPaths = (key: string) =>
    currentSequence({ key: Buffer.from(key.trim(), "hex"), rotateMs: 600_000, steps: 2 });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "webknock-live-"));
    writeFileSync(file("rot.key"), newKeyText(), { mode: 0o600 });
    writeFileSync(file("alice.secret"), `${generateSecret()}\n`, { mode: 0o600 });
    writeConfig();
    const now = Date.now;
    gateway = createGateway(loadConfigFile(file("webknock.yaml")), {
      log: silentLogger(),
      now,
      store: new MemoryStore(now),
      firewall,
      loadConfig: () => loadConfigFile(file("webknock.yaml")),
    });
  });
  afterAll(async () => {
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("takes a new rotating key and a new secret: the old paths are gone", async () => {
    const oldKey = newKeyText();
    writeFileSync(file("rot.key"), oldKey, { mode: 0o600 });
    expect(await gateway.reload()).toEqual({
      ok: true,
      changes: ["doors changed: rot"],
      warnings: [],
    });
    const [oldFirst = ""] = rotatingPaths(oldKey);
    expect(gateway.engine.lookup(oldFirst)).toMatchObject({ index: 0, door: { name: "rot" } });

    const newKey = newKeyText();
    const secret = generateSecret();
    writeFileSync(file("rot.key"), newKey, { mode: 0o600 });
    writeFileSync(file("alice.secret"), `${secret}\n`, { mode: 0o600 });
    expect(await gateway.reload()).toEqual({
      ok: true,
      changes: ["doors changed: rot", "users changed: alice"],
      warnings: [],
    });
    expect(gateway.engine.lookup(oldFirst)).toBeUndefined();
    const [newFirst = ""] = rotatingPaths(newKey);
    expect(gateway.engine.lookup(newFirst)).toMatchObject({ index: 0, door: { name: "rot" } });
    expect(gateway.engine.user("alice")?.secret).toBe(secret.toUpperCase());
    // No door's ports changed: the base ruleset was left alone.
    expect(firewall.inits).toEqual([]);
  });

  it("closes a door's new port in the base ruleset before the door answers", async () => {
    writeConfig({ sshOpen: "tcp/22, tcp/2222" });
    expect(await gateway.reload()).toMatchObject({ ok: true, changes: ["doors changed: ssh"] });
    expect(firewall.inits).toEqual([["tcp/22", "tcp/2222", "tcp/3389"]]);
  });

  it("refuses a store change as a whole: the engine in force stays", async () => {
    const engine = gateway.engine;
    writeConfig({ sshOpen: "tcp/22", redis: true });
    expect(await gateway.reload()).toEqual({
      ok: false,
      problems: [expect.stringMatching(/^store\.redis: changed; this needs a restart/)],
    });
    expect(gateway.engine).toBe(engine);
    expect(firewall.inits).toHaveLength(1);
    expect(gateway.engine.lookup("/s/1")?.door.open).toHaveLength(2);
  });
});
