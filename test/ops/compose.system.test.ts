import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  killChild,
  spawnInNetns,
  startAgent,
  type Netns,
  type NetnsAgent,
} from "../support/netns.js";
import { argAfter, composeServices, dockerEnv, dockerInstruction } from "./docker-files.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const services = composeServices();
const gateway = services.gateway ?? {};
const redis = services.redis ?? {};
const LOOPBACK = new Set(["127.0.0.1", "::1", "-::1", "localhost"]);

describe("compose.yaml", () => {
  it("runs the gateway on the host network with NET_ADMIN and the Dockerfile's command", () => {
    expect(gateway.network_mode).toBe("host");
    expect(gateway.cap_add).toContain("NET_ADMIN");
    expect(gateway.build).toBeDefined();
    expect(gateway.entrypoint).toEqual(dockerInstruction("ENTRYPOINT"));
    expect(gateway.command).toEqual(dockerInstruction("CMD"));
    // no-new-privileges would stop the firewall tools' file capabilities from working.
    expect(gateway.security_opt ?? []).not.toContain("no-new-privileges:true");
    expect(gateway.depends_on?.redis?.condition).toBe("service_healthy");
  });

  it("runs Redis with persistence, a healthcheck, no eviction, bound to loopback only", () => {
    const argv = redis.command ?? [];
    expect(argv[0]).toBe("redis-server");
    expect(argAfter(argv, "--appendonly")).toBe("yes");
    expect(argAfter(argv, "--maxmemory-policy")).toBe("noeviction");
    const bind = (argAfter(argv, "--bind") ?? "").split(/\s+/);
    expect(bind.length).toBeGreaterThan(0);
    for (const address of bind) expect(LOOPBACK.has(address), address).toBe(true);
    // Published ports would reach Redis through Docker's DNAT, past the host firewall.
    expect(redis.ports).toBeUndefined();
    expect(redis.network_mode).toBe("host");
    expect(redis.healthcheck?.test).toEqual(expect.arrayContaining(["redis-cli", "ping"]));
    expect(redis.volumes?.some((v) => v.endsWith(":/data"))).toBe(true);
  });

  describe(
    "the same start commands, outside Docker, in a network namespace",
    { timeout: 120_000 },
    () => {
      let ns: Netns | undefined;
      let agent: NetnsAgent | undefined;
      const children: ChildProcess[] = [];
      let dir = "";

      beforeAll(async () => {
        await deleteStaleNetns();
        dir = mkdtempSync(join(tmpdir(), "webknock-compose-"));
        // The image's /app as the Dockerfile lays it out: dist, node_modules, package.json, views.
        const app = join(dir, "app");
        mkdirSync(app);
        await execa("npx", ["tsc", "-p", "tsconfig.json", "--outDir", join(app, "dist")], {
          cwd: ROOT,
          timeout: 120_000,
        });
        symlinkSync(join(ROOT, "node_modules"), join(app, "node_modules"));
        cpSync(join(ROOT, "package.json"), join(app, "package.json"));
        cpSync(join(ROOT, "views"), join(app, "views"), { recursive: true });
        mkdirSync(join(dir, "etc"));
        mkdirSync(join(dir, "data"));
        ns = await createNetns();
        agent = await startAgent(ns);
      }, 180_000);

      afterAll(async () => {
        await agent?.stop();
        for (const child of children) await killChild(child);
        await deleteNetns(ns);
        rmSync(dir, { recursive: true, force: true });
      });

      it("Redis from compose's command and the gateway from the Dockerfile's serve", async () => {
        if (ns === undefined || agent === undefined) throw new Error("no namespace");
        const redisArgv = redis.command ?? [];
        // The container's working directory is /data (the volume); here a temp dir.
        const redisChild = spawnInNetns(ns, redisArgv[0] ?? "", [
          ...redisArgv.slice(1),
          "--dir",
          join(dir, "data"),
        ]);
        children.push(redisChild);
        const port = argAfter(redisArgv, "--port") ?? "6379";
        const space = ns;
        const cli = (...args: string[]) => space.exec("redis-cli", ["-p", port, ...args]);
        for (let i = 0; i < 100 && !/PONG/.test(await cli("ping").catch(() => "")); i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(await cli("config", "get", "appendonly")).toMatch(/yes/);

        const config = join(dir, "etc", "webknock.yaml");
        writeFileSync(
          config,
          `server: { listen: [{ host: 127.0.0.1, port: 8080 }] }
store: { redis: "redis://127.0.0.1:${port}/0" }
firewall: { backend: iptables }
doors: { ssh: { sequence: [/a1, /b2], open: [tcp/22], users: [alice] } }
users: { alice: { secret: NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT } }
`,
        );
        // The image's paths mapped onto the staged copy; the argv is otherwise the image's.
        const argv = [...dockerInstruction("ENTRYPOINT"), ...dockerInstruction("CMD")].map((a) =>
          a.replace(/^\/app\//, `${dir}/app/`).replace(/^\/etc\/webknock\//, `${dir}/etc/`),
        );
        const env = { ...process.env, ...dockerEnv(), XTABLES_LOCKFILE: join(dir, "xtables.lock") };
        const gatewayChild = spawnInNetns(ns, argv[0] ?? "", argv.slice(1), {
          env,
          stdio: ["ignore", "pipe", "pipe"],
        });
        children.push(gatewayChild);
        let log = "";
        gatewayChild.stdout?.on("data", (chunk: Buffer) => (log += chunk.toString()));
        gatewayChild.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
        for (let i = 0; i < 600 && !log.includes("webknock is listening"); i++) {
          if (gatewayChild.exitCode !== null) break;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(log).toContain('"store":"redis"');

        const get = async (path: string) => agent?.http(`http://127.0.0.1:8080${path}`);
        expect(await get("/nothing-here")).toMatchObject({ ok: true, status: 404 });
        expect(await get("/a1")).toMatchObject({ ok: true, status: 404 });
        const last = await get("/b2");
        expect(last).toMatchObject({ ok: true, status: 200 });
        // Progress and the challenge live in compose's Redis, and the base ruleset is in place.
        expect(await cli("--scan", "--pattern", "wk:*")).not.toBe("");
        expect(await ns.exec("iptables", ["-w", "-S", "WEBKNOCK"])).toMatch(/--dport 22 .* DROP/);
      });
    },
  );
});
