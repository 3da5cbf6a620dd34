import type { ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  killChild,
  spawnInNetns,
  type Netns,
} from "../support/netns.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

/** `webknock doctor` as a process inside a namespace: a clean host exits 0, a hole exits 1. */
// Each test starts the CLI under tsx; on a loaded 2-core machine that alone takes seconds.
describe("webknock doctor -c FILE", { timeout: 90_000 }, () => {
  let ns: Netns | undefined;
  let redis: ChildProcess | undefined;
  let dir = "";
  let file = "";
  const cli = async (...args: string[]) => {
    if (ns === undefined) throw new Error("no namespace");
    return ns.run(process.execPath, ["--import", "tsx", MAIN, ...args]);
  };

  beforeAll(async () => {
    await deleteStaleNetns();
    ns = await createNetns();
    dir = mkdtempSync(join(tmpdir(), "webknock-doctor-"));
    // Redis as compose.yaml runs it, on the namespace's own loopback.
    redis = spawnInNetns(ns, "redis-server", [
      "--port", "6379", "--bind", "127.0.0.1", "--appendonly", "yes",
      "--maxmemory-policy", "noeviction", "--dir", dir,
    ]); // prettier-ignore
    const space = ns;
    for (let i = 0; i < 100; i++) {
      const ping = await space.run("redis-cli", ["-p", "6379", "ping"]);
      if (ping.stdout.includes("PONG")) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    writeFileSync(join(dir, "alice.totp"), "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT\n", {
      mode: 0o600,
    });
    file = join(dir, "webknock.yaml");
    writeFileSync(
      file,
      `store: { redis: "redis://127.0.0.1:6379/0" }
firewall: { backend: iptables }
doors: { ssh: { sequence: [/a1, /b2], open: [tcp/22], users: [alice] } }
users: { alice: { secretFile: ${join(dir, "alice.totp")} } }
`,
      { mode: 0o600 },
    );
    expect((await cli("firewall", "init", "-c", file)).exitCode).toBe(0);
  });
  afterAll(async () => {
    if (redis !== undefined) await killChild(redis);
    await deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it("exits 0 on a clean setup", async () => {
    const result = await cli("doctor", "-c", file);
    expect(result.stdout).toMatch(/^ok +firewall: WEBKNOCK is reached first/m);
    expect(result.stdout).toMatch(/^ok +redis: .*persists \(AOF/m);
    expect(result.stdout).not.toMatch(/^FAIL/m);
    expect(result.exitCode).toBe(0);
  });

  it("without privileges, says it cannot read the firewall instead of passing it", async () => {
    // A config nobody can read (the real one is 0600 in a private directory).
    const open = mkdtempSync(join(tmpdir(), "webknock-doctor-nobody-"));
    chmodSync(open, 0o755);
    const readable = join(open, "webknock.yaml");
    writeFileSync(
      readable,
      "firewall: { backend: iptables }\ndoors: { ssh: { sequence: [/a], open: [tcp/22], users: [alice] } }\nusers: { alice: { secret: NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT } }\n",
      { mode: 0o644 },
    );
    const result = await ns?.run("setpriv", [
      "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
      "env", `HOME=${tmpdir()}`, process.execPath, "--import", "tsx", MAIN, "doctor", "-c", readable,
    ]); // prettier-ignore
    rmSync(open, { recursive: true, force: true });
    expect(result?.exitCode).toBe(1);
    expect(result?.stdout).toMatch(/^FAIL firewall: IPv4: cannot read the INPUT chain/m);
    expect(result?.stdout).toMatch(
      /^WARN hooks: Cannot read the nftables ruleset \(Operation not permitted/m,
    );
    expect(result?.stdout).not.toMatch(/^ok +(firewall|hooks|docker)/m);
  });

  it("exits 1 and names the fix for a stray ACCEPT", async () => {
    await ns?.exec("iptables", [
      "-w",
      "-I",
      "INPUT",
      "1",
      "-p",
      "tcp",
      "--dport",
      "22",
      "-j",
      "ACCEPT",
    ]);
    const result = await cli("doctor", "-c", file);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain(
      "fix: Delete it (`iptables -D INPUT -p tcp -m tcp --dport 22 -j ACCEPT`)",
    );
    expect(result.stdout).toMatch(/webknock doctor: 1 problem/);
  });
});
