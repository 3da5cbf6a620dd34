import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, inject, it } from "vitest";
import { loadConfigFile } from "../../src/config/load.js";
import { silentLogger } from "../../src/log.js";
import { createStoreBackend } from "../../src/store/backend.js";
import { cli } from "../support/cli.js";
import { TEST_SECRETS } from "../support/netns-gateway.js";

const dir = mkdtempSync(join(tmpdir(), "webknock-flush-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `firewall flush` and `uninstall` remove the grant records of a Redis store, not only rules. */
describe.each(["flush", "uninstall"])("webknock firewall %s with a Redis store", (command) => {
  it("removes every grant record and says how many", async () => {
    const file = join(dir, `${command}.yaml`);
    writeFileSync(
      file,
      `
store: { redis: "${inject("redisUrl")}", keyPrefix: "wk-${command}-${process.pid}:" }
firewall: { backend: log }
doors:
  ssh: { sequence: [/a, /b], open: [tcp/22], users: [alice] }
users:
  alice: { secret: ${TEST_SECRETS.alice} }
`,
    );
    const backend = createStoreBackend(loadConfigFile(file), {
      now: Date.now,
      log: silentLogger(),
    });
    await backend.connect();
    try {
      for (const ip of ["203.0.113.7", "2001:db8::7"]) {
        await backend.store.putGrant({
          door: "ssh",
          ip,
          user: "alice",
          ports: [{ proto: "tcp", port: 22 }],
          grantedAt: Date.now(),
          expiresAt: Date.now() + 60_000,
        });
      }
      const run = await cli(["firewall", command, "-c", file]);
      expect(run.stderr).toBe("");
      expect(run.stdout).toContain("2 grant records removed from Redis");
      expect(await backend.store.listGrants()).toEqual([]);
    } finally {
      await backend.close();
    }
  });
});
