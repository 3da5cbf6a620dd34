#!/usr/bin/env node
import { runCli } from "./index.js";
import { processDeps } from "./deps.js";

// Long-running commands (serve, demo) keep the event loop alive; the rest exit with their code.
process.exitCode = await runCli(process.argv.slice(2), processDeps());
