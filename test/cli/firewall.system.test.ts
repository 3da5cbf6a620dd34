import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, deleteNetns, deleteStaleNetns, type Netns } from "../support/netns.js";

const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

const config = (backend: string) => `
firewall: { backend: ${backend} }
doors:
  ssh: { sequence: [/a, /b], open: [tcp/22, udp/51820], users: [alice] }
  web: { sequence: [/c], open: [tcp/22], users: [alice] }
users:
  alice: { secret: NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT }
`;

/** The real CLI, as a process inside the namespace (so its firewall commands stay there). */
describe.each(["iptables", "ipset", "nftables"])("webknock firewall (%s)", (backend) => {
  let ns: Netns | undefined;
  let dir: string;
  let file: string;
  const cli = async (...args: string[]) => {
    const result = await ns?.run(process.execPath, ["--import", "tsx", MAIN, ...args]);
    return result ?? { stdout: "", stderr: "no namespace", exitCode: -1 };
  };

  beforeAll(async () => {
    await deleteStaleNetns();
    ns = await createNetns();
    dir = mkdtempSync(join(tmpdir(), "webknock-cli-"));
    file = join(dir, "webknock.yaml");
    writeFileSync(file, config(backend));
  });
  afterAll(async () => {
    await deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  });

  it("init, status and flush", async () => {
    const init = await cli("firewall", "init", "-c", file);
    expect(init.stderr).toBe("");
    expect(init.stdout).toContain("protecting tcp/22, udp/51820");
    expect((await cli("firewall", "init", "-c", file)).exitCode).toBe(0);
    const status = await cli("firewall", "status", "-c", file);
    expect(status.stdout).toMatch(/: 0 grants;/);
    expect((await cli("firewall", "flush", "-c", file)).exitCode).toBe(0);
    expect((await cli("firewall", "status", "-c", file)).exitCode).not.toBe(0);
  });
});
