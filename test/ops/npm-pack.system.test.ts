import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { killChild } from "../support/netns.js";
import { freePort } from "../support/redis-server.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** A PATH without the repository's node_modules/.bin: the installed package stands alone. */
const CLEAN_PATH = (process.env.PATH ?? "")
  .split(":")
  .filter((entry) => !entry.includes("node_modules"))
  .join(":");

/** Polls `url` until it answers (any status), `child` exits or `timeoutMs` passes. */
async function waitForHttp(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 300 && Date.now() < deadline && child.exitCode === null; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`${url} did not answer (exit code ${String(child.exitCode)})`);
}

describe("npm pack gives a package that installs and runs on its own", () => {
  let dir = "";
  let demo: ChildProcess | undefined;
  let tarball = "";
  let listing: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "webknock-pack-"));
    // prepack builds dist/ from a clean slate; the packed file list comes back as JSON.
    const pack = await execa("npm", ["pack", "--json", "--pack-destination", dir], {
      cwd: ROOT,
      timeout: 180_000,
    });
    const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as {
      filename: string;
      files: { path: string }[];
    }[];
    listing = info?.files.map((f) => f.path) ?? [];
    tarball = join(dir, readdirSync(dir).find((f) => f.endsWith(".tgz")) ?? "missing.tgz");
  }, 200_000);

  afterAll(async () => {
    if (demo !== undefined) await killChild(demo);
    rmSync(dir, { recursive: true, force: true });
  });

  it("ships the built CLI and its views, not the sources or tests", () => {
    expect(listing).toEqual(
      expect.arrayContaining([
        "dist/cli/main.js",
        "views/layout.html",
        "config/webknock.example.yaml",
        "contrib/systemd/webknock.service",
      ]),
    );
    expect(listing.filter((p) => /^(src|test|bench)\//.test(p))).toEqual([]);
  });

  it("npm install -g ./webknock-*.tgz && webknock demo", async () => {
    const prefix = join(dir, "prefix");
    // Dependencies come from the npm cache when they are there, else from the registry.
    await execa(
      "npm",
      ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", tarball],
      { cwd: dir, timeout: 240_000, env: { PATH: CLEAN_PATH, HOME: process.env.HOME } },
    );
    const port = await freePort();
    demo = spawn(join(prefix, "bin", "webknock"), ["demo", "--port", String(port)], {
      cwd: dir,
      env: { PATH: CLEAN_PATH, HOME: dir },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    demo.stdout?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    demo.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/`, demo, 30_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${out}`);
    });
    expect(out).toContain(`listening on ${base}`);
    expect((await fetch(`${base}/no-such-page`)).status).toBe(404);
    // The demo door, walked: the last step renders the challenge page from views/.
    expect((await fetch(`${base}/demo/7f3a.png`)).status).toBe(404);
    expect((await fetch(`${base}/demo/c41e`)).status).toBe(404);
    const challenge = await fetch(`${base}/demo/knock`);
    expect(challenge.status).toBe(200);
    expect(await challenge.text()).toMatch(/<form/i);
  }, 300_000);
});
