import { readFileSync } from "node:fs";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnCli, type CliProcess } from "../support/spawn-cli.js";

/** The curl recipe exactly as README shows it, between its markers. */
function readmeRecipe(): string {
  const readme = readFileSync("README.md", "utf8");
  const block = /<!-- curl-recipe:start -->\s*```sh\n([\s\S]*?)```\s*<!-- curl-recipe:end -->/.exec(
    readme,
  );
  if (!block?.[1]) throw new Error("README.md has no curl recipe between its markers");
  return block[1];
}

describe("webknock demo", () => {
  let demo: CliProcess;
  let port: string;
  beforeAll(async () => {
    demo = spawnCli(["demo", "--port", "0"]);
    port = (await demo.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/))[1] ?? "";
    await demo.waitFor(/Press Ctrl-C/);
  });
  afterAll(async () => {
    await demo.stop();
  });

  it("prints the knock URLs, the secret, an otpauth URI and a QR code", () => {
    const out = demo.stdout();
    expect(out).toContain(`http://127.0.0.1:${port}/demo/7f3a.png`);
    expect(out).toMatch(/otpauth:\/\/totp\/webknock%20demo:demo\?secret=[A-Z2-7]+/);
    expect(out).toMatch(/[▄▀█]{10,}/);
  });

  it("grants access to README's curl recipe, run as written (port aside)", async () => {
    const recipe = readmeRecipe().replace("http://127.0.0.1:8080", `http://127.0.0.1:${port}`);
    const { stdout } = await execa("bash", ["-euo", "pipefail", "-c", recipe]);
    const { granted } = JSON.parse(stdout) as { granted: Record<string, unknown> };
    expect(granted).toMatchObject({
      door: "demo",
      ip: "127.0.0.1",
      ports: ["tcp/22"],
      openFor: 30,
    });
  });

  it("logs the exact iptables commands of the dry run and opens nothing", async () => {
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(demo.stderr()).toMatch(/"event":"firewall-dry-run","argv":\["iptables","-w","-I"/);
  });

  it("keeps serving on SIGHUP and says that its config (built in code) cannot be reloaded", async () => {
    demo.child.kill("SIGHUP");
    const deadline = Date.now() + 10_000;
    while (!demo.stderr().includes('"event":"reload-refused"') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(demo.stderr()).toContain("built in code, not read from a file");
    expect(demo.child.exitCode).toBeNull();
    const res = await fetch(`http://127.0.0.1:${port}/nothing-here`);
    expect(res.status).toBe(404);
  });
});
