import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startInNetns, type NetnsProcess } from "../fleet/lan.js";
import { createNetns, deleteNetns, deleteStaleNetns, type Netns } from "../support/netns.js";
import {
  exposureScore,
  MAX_EXPOSURE,
  lockfileEnv,
  readUnitFile,
  serviceValue,
  setprivArgs,
} from "./unit-file.js";

const UNIT = fileURLToPath(
  new URL("../../contrib/systemd/webknock-agent.service", import.meta.url),
);
const IPSET_DROPIN = fileURLToPath(
  new URL("../../contrib/systemd/webknock-agent.service.d/ipset.conf", import.meta.url),
);
const MAIN = fileURLToPath(new URL("../../src/cli/main.ts", import.meta.url));
const NOBODY = 65534;

describe("contrib/systemd/webknock-agent.service", () => {
  const unit = readUnitFile(UNIT);

  it(`scores ${MAX_EXPOSURE} or below in systemd-analyze security`, async () => {
    const { score, output } = await exposureScore(UNIT);
    expect(score, output).toBeLessThanOrEqual(MAX_EXPOSURE);
  });

  it("has the gateway unit's hardening, with only CAP_NET_ADMIN", () => {
    expect(serviceValue(unit, "AmbientCapabilities")).toBe("CAP_NET_ADMIN");
    expect(serviceValue(unit, "CapabilityBoundingSet")).toBe("CAP_NET_ADMIN");
    expect(serviceValue(unit, "User")).toBe("webknock");
    expect(serviceValue(unit, "ExecStart")).toMatch(/ agent -c \/etc\/webknock\/agent\.yaml$/);
    expect(serviceValue(unit, "NoNewPrivileges")).toBe("yes");
    expect(serviceValue(unit, "ProtectSystem")).toBe("strict");
    expect(serviceValue(unit, "ProtectHome")).toBe("yes");
    expect(serviceValue(unit, "PrivateTmp")).toBe("yes");
    expect(serviceValue(unit, "RestrictAddressFamilies").split(/\s+/)).toEqual(
      expect.arrayContaining(["AF_INET", "AF_INET6", "AF_NETLINK"]),
    );
    expect(serviceValue(unit, "SystemCallFilter")).toMatch(/^@system-service\b/);
    expect(serviceValue(unit, "ReadWritePaths").split(/\s+/)).toContain("/var/lib/webknock");
    expect(serviceValue(unit, "MemoryDenyWriteExecute")).toBe("");
  });

  describe(
    "the agent starts and syncs under the unit's user and capabilities",
    { timeout: 90_000 },
    () => {
      let ns: Netns | undefined;
      let redis: NetnsProcess | undefined;
      let dir = "";
      beforeAll(async () => {
        await deleteStaleNetns();
        ns = await createNetns();
        dir = mkdtempSync(join(tmpdir(), "webknock-agent-unit-"));
        chmodSync(dir, 0o755);
        mkdirSync(join(dir, "run"), { mode: 0o700 });
        chownSync(join(dir, "run"), NOBODY, NOBODY);
        // The gateway's Redis, here inside the agent's namespace (its own loopback).
        redis = startInNetns(ns, "redis-server", [
          "--port",
          "6379",
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          join(dir, "run"),
        ]);
        await redis.waitFor(/Ready to accept connections/);
      });
      afterAll(async () => {
        await redis?.kill();
        await deleteNetns(ns);
        rmSync(dir, { recursive: true, force: true });
      });

      // iptables' `-m set` match reaches ipset through a raw socket: the ipset drop-in.
      const dropin = serviceValue(readUnitFile(IPSET_DROPIN), "AmbientCapabilities");
      it.each([
        ["nftables", ""],
        ["ipset", dropin],
      ] as const)("%s, plus %j", async (backend, extra) => {
        const file = join(dir, `${backend}.yaml`);
        writeFileSync(
          file,
          `agent: { name: web1, ports: [tcp/22] }
store: { redis: "redis://127.0.0.1:6379" }
firewall: { backend: ${backend} }
`,
          { mode: 0o600 },
        );
        // As the unit's install steps say: the agent's user owns its config (mode 0600).
        chownSync(file, NOBODY, NOBODY);
        const agent = startInNetns(ns as Netns, "setpriv", [
          ...setprivArgs(unit, extra),
          "env",
          `HOME=${join(dir, "run")}`,
          `TMPDIR=${join(dir, "run")}`,
          ...lockfileEnv(unit, "/run/webknock-agent", join(dir, "run")),
          process.execPath,
          "--import",
          "tsx",
          MAIN,
          "agent",
          "-c",
          file,
        ]);
        try {
          await agent.waitFor(/agent synced from the snapshot/, 40_000);
          await agent.waitFor(/agent running/, 10_000);
          expect(agent.output()).not.toMatch(/"level":50|EPERM|Operation not permitted/);
          const listing =
            backend === "nftables"
              ? await ns?.exec("nft", ["list", "table", "inet", "webknock"])
              : await ns?.exec("ipset", ["list", "WEBKNOCK4", "-name"]);
          expect(listing).toMatch(backend === "nftables" ? /tcp \. 22/ : /WEBKNOCK4/);
        } finally {
          await agent.kill();
        }
      });
    },
  );
});
