import { processDeps } from "../../src/cli/deps.js";
import { runCli } from "../../src/cli/index.js";

/**
 * The webknock CLI with its modules loaded ahead of time: prints `warm`, waits for one line
 * on stdin, then runs the command given in argv exactly as `src/cli/main.ts` would. A
 * restart test spawns the next gateway while the old one still runs, so the restart it
 * measures is the gateway's own start-up and not a loaded machine compiling TypeScript.
 */
process.stdout.write("warm\n");
await new Promise((resolve) => process.stdin.once("data", resolve));
process.exitCode = await runCli(process.argv.slice(2), processDeps());
