import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNetns, deleteNetns, deleteStaleNetns, type Netns } from "../support/netns.js";
import {
  exposureScore,
  MAX_EXPOSURE,
  lockfileEnv,
  readUnitFile,
  serviceValue,
  setprivArgs,
} from "./unit-file.js";

const UNIT = fileURLToPath(new URL("../../contrib/systemd/webknock.service", import.meta.url));
const IPSET_DROPIN = fileURLToPath(
  new URL("../../contrib/systemd/webknock.service.d/ipset.conf", import.meta.url),
);
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));

describe("contrib/systemd/webknock.service", () => {
  const unit = readUnitFile(UNIT);

  it(`scores ${MAX_EXPOSURE} or below in systemd-analyze security`, async () => {
    const { score, output } = await exposureScore(UNIT);
    expect(score, output).toBeLessThanOrEqual(MAX_EXPOSURE);
  });

  it("has the hardening the issue asks for", () => {
    const caps = ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"];
    expect(serviceValue(unit, "AmbientCapabilities").split(/\s+/).sort()).toEqual(caps);
    expect(serviceValue(unit, "CapabilityBoundingSet").split(/\s+/).sort()).toEqual(caps);
    expect(serviceValue(unit, "User")).toBe("webknock");
    expect(serviceValue(unit, "NoNewPrivileges")).toBe("yes");
    expect(serviceValue(unit, "ProtectSystem")).toBe("strict");
    expect(serviceValue(unit, "ProtectHome")).toBe("yes");
    expect(serviceValue(unit, "PrivateTmp")).toBe("yes");
    expect(serviceValue(unit, "RestrictAddressFamilies").split(/\s+/)).toContain("AF_NETLINK");
    expect(serviceValue(unit, "SystemCallFilter")).toMatch(/^@system-service\b/);
    // The command backend's default stateFile lives here (src/config/schema.ts).
    expect(serviceValue(unit, "ReadWritePaths").split(/\s+/)).toContain("/var/lib/webknock");
    expect(serviceValue(unit, "ExecReload")).toMatch(/kill -HUP \$MAINPID$/);
    // V8's JIT needs W+X pages: this one must stay off or Node dies at start.
    expect(serviceValue(unit, "MemoryDenyWriteExecute")).toBe("");
  });

  describe("its user and capabilities suffice to manage the firewall", { timeout: 90_000 }, () => {
    let ns: Netns | undefined;
    let dir = "";
    beforeAll(async () => {
      await deleteStaleNetns();
      ns = await createNetns();
      dir = mkdtempSync(join(tmpdir(), "webknock-unit-"));
      chmodSync(dir, 0o755);
      // Stands in for the unit's RuntimeDirectory, owned by the service's user.
      mkdirSync(join(dir, "run"), { mode: 0o777 });
      chmodSync(join(dir, "run"), 0o777);
    });
    afterAll(async () => {
      await deleteNetns(ns);
      rmSync(dir, { recursive: true, force: true });
    });

    // iptables' `-m set` match reaches ipset through a raw socket, so the ipset backend
    // needs the CAP_NET_RAW drop-in (contrib/systemd/webknock.service.d/ipset.conf).
    const dropin = serviceValue(readUnitFile(IPSET_DROPIN), "AmbientCapabilities");
    it.each([
      ["iptables", ""],
      ["nftables", ""],
      ["ipset", dropin],
    ] as const)(
      "firewall init (%s) as nobody with only the unit's capabilities plus %j",
      async (backend, extra) => {
        const file = join(dir, `${backend}.yaml`);
        writeFileSync(
          file,
          `firewall: { backend: ${backend} }
doors: { ssh: { sequence: [/a], open: [tcp/22], users: [alice] } }
users: { alice: { secret: NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT } }
`,
          { mode: 0o644 },
        );
        // The unit's own capability list and xtables lock, applied with setpriv as an
        // unprivileged uid: what systemd would hand the process, minus the sandbox.
        const env = lockfileEnv(unit, "/run/webknock", join(dir, "run"));
        const result = await ns?.run("setpriv", [
          ...setprivArgs(unit, extra),
          "env",
          `HOME=${join(dir, "run")}`,
          `TMPDIR=${join(dir, "run")}`,
          ...env,
          process.execPath,
          "--import",
          "tsx",
          MAIN,
          "firewall",
          "init",
          "-c",
          file,
        ]);
        expect(result?.stderr).toBe("");
        expect(result?.stdout).toContain("protecting tcp/22");
        const listing =
          backend === "nftables"
            ? await ns?.exec("nft", ["list", "table", "inet", "webknock"])
            : await ns?.exec("ip6tables", ["-w", "-S", "WEBKNOCK"]);
        expect(listing).toMatch(/22/);
      },
    );
  });
});
