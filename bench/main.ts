/**
 * `npm run bench [-- --quick] [--only 1,2] [--out FILE] [--redis-port N]`: every figure side by side in
 * one run, each against a baseline measured in the same run, with PASS/FAIL per target.
 * Starts its own redis-server on a private port and its own network namespaces; all load
 * goes to 127.0.0.1. Writes Markdown to bench/RESULTS.md (or --out).
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { renderText } from "./report.js";
import { runBench } from "./run.js";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: process.env.BENCH_QUICK === "1" },
      out: { type: "string" },
      "redis-port": { type: "string", default: "6393" },
      only: { type: "string" },
    },
  });
  const quick = values.quick;
  const out = values.out ?? (quick ? "bench/RESULTS.quick.md" : "bench/RESULTS.md");
  const started = Date.now();
  const { rows, markdown } = await runBench({
    quick,
    redisPort: Number(values["redis-port"]),
    ...(values.only === undefined ? {} : { only: values.only.split(",").map(Number) }),
    say: (line) => process.stdout.write(`${line}\n`),
  });
  writeFileSync(out, markdown);
  process.stdout.write(
    `\n${renderText(rows)}\n\nWrote ${out} in ${Math.round((Date.now() - started) / 1000)} s\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
