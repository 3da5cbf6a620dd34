// Stands in for an administrator's open/close programs in the command backend's tests.
// It keeps "kernel" state in a JSON file the test reads, and behaves like a careful
// real tool: open sets or refreshes one entry, close of a missing entry fails.
//   node grant-recorder.js STATE open IP PROTO/PORT timeout=SECONDS
//   node grant-recorder.js STATE close IP PROTO/PORT
// Each call also appends its argv to STATE.argv (one JSON array per line).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import process from "node:process";

const [state, action, ip, protoPort, timeout] = process.argv.slice(2);
if (state === undefined) process.exit(2);
appendFileSync(`${state}.argv`, `${JSON.stringify(process.argv.slice(3))}\n`);
const entries = new Map(
  Object.entries(existsSync(state) ? JSON.parse(readFileSync(state, "utf8")) : {}),
);
const key = `${ip} ${protoPort}`;
if (action === "open" && /^timeout=\d+$/.test(timeout ?? "")) {
  entries.set(key, Number(timeout.slice("timeout=".length)));
} else if (action === "close" && entries.has(key)) {
  entries.delete(key);
} else {
  process.stderr.write(`refused: ${process.argv.slice(3).join(" ")}\n`);
  process.exit(1);
}
writeFileSync(state, JSON.stringify(Object.fromEntries(entries)));
