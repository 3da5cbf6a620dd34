import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandRunner } from "../../src/firewall/runner.js";
import { IpsetFirewall } from "../../src/firewall/ipset.js";
import { IptablesFirewall } from "../../src/firewall/iptables.js";
import { NftablesFirewall } from "../../src/firewall/nftables.js";
import type { FirewallAdapter } from "../../src/firewall/types.js";
import { kernelSnapshot } from "../firewall/contract.js";
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

/** The adapter the CLI builds for the default names, to put a grant in place. */
const adapters: Record<string, (run: CommandRunner) => FirewallAdapter> = {
  iptables: (run) => new IptablesFirewall({ run }),
  ipset: (run) => new IpsetFirewall({ run, now: Date.now }),
  nftables: (run) => new NftablesFirewall({ run, now: Date.now }),
};

/** The real CLI, as a process inside the namespace (so its firewall commands stay there). */
describe.each(Object.keys(adapters))("webknock firewall (%s)", (backend) => {
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

  it("init, status, flush (grants closed, ports kept closed) and uninstall", async () => {
    const init = await cli("firewall", "init", "-c", file);
    expect(init.stderr).toBe("");
    expect(init.stdout).toContain("protecting tcp/22, udp/51820");
    expect((await cli("firewall", "init", "-c", file)).exitCode).toBe(0);
    const status = await cli("firewall", "status", "-c", file);
    expect(status.stdout).toMatch(/: 0 grants;/);
    const base = await kernelSnapshot(ns as Netns);

    const adapter = (adapters[backend] as (run: CommandRunner) => FirewallAdapter)(
      (ns as Netns).run,
    );
    await adapter.open({
      ip: "203.0.113.7",
      proto: "tcp",
      port: 22,
      expiresAt: Date.now() + 60_000,
    });
    expect((await cli("firewall", "status", "-c", file)).stdout).toMatch(/: 1 grant;/);
    const flush = await cli("firewall", "flush", "-c", file);
    expect(flush.exitCode).toBe(0);
    expect(flush.stdout).toContain("1 grant rule closed");
    expect(flush.stdout).toContain(
      "Ports tcp/22, udp/51820 stay closed to anyone without a new grant.",
    );
    expect((await cli("firewall", "status", "-c", file)).stdout).toMatch(/: 0 grants;/);
    expect(await kernelSnapshot(ns as Netns)).toBe(base);

    const uninstall = await cli("firewall", "uninstall", "-c", file);
    expect(uninstall.exitCode).toBe(0);
    expect(uninstall.stdout).toContain(
      "Ports tcp/22, udp/51820 now fall back to the host's own rules",
    );
    expect(await kernelSnapshot(ns as Netns)).not.toMatch(/WEBKNOCK|webknock/);
    expect((await cli("firewall", "status", "-c", file)).exitCode).not.toBe(0);
  }, 120_000);

  it("says in --help what flush and uninstall do", async () => {
    const help = await cli("firewall", "--help");
    expect(help.stdout).toMatch(/flush .*close every grant .*the base ruleset stays/s);
    expect(help.stdout).toMatch(/uninstall .*remove every chain, set or table webknock made/s);
  });
});
