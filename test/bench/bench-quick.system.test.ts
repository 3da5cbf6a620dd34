import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ROW_IDS } from "../../bench/report.js";
import { freePort } from "../support/redis-server.js";

const run = promisify(execFile);

/**
 * Runs `npm run bench -- --quick` as CI would and checks that the report is complete.
 * Speed targets are the benchmark's business: this only checks that every row is
 * produced with a verdict, never what the verdict is.
 */
describe("npm run bench -- --quick", () => {
  it("writes a report with every row", { timeout: 250_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "webknock-bench-"));
    try {
      const out = join(dir, "RESULTS.md");
      // A free port of its own, apart from the test Redis and a full bench (6393).
      const port = String(await freePort());
      await run("bash", ["scripts/bench.sh", "--quick", "--out", out, "--redis-port", port], {
        timeout: 240_000,
      });
      const report = readFileSync(out, "utf8");
      expect(report).toMatch(/^- Machine: \d+ cores, /m);
      expect(report).toMatch(/^- Node: v\d+/m);
      for (const id of ROW_IDS) {
        expect(report).toMatch(
          new RegExp(
            `^\\| ${id.replace(".", "\\.")} \\|.*\\| (PASS|FAIL|INFO|PENDING|SKIPPED) \\|$`,
            "m",
          ),
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
