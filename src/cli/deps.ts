import { readFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import { systemClock, type Clock } from "../clock.js";
import { askAtTerminal } from "./ask-code.js";

/** A place to print to; `process.stdout` fits, and so does a string collector in tests. */
export interface Output {
  write(text: string): unknown;
}

/** Everything the CLI touches in the outside world, injected so tests can drive it. */
export interface CliDeps {
  readonly stdout: Output;
  readonly stderr: Output;
  readonly env: NodeJS.ProcessEnv;
  readonly now: Clock;
  readonly readFile: (path: string) => string;
  /**
   * The raw byte streams `webknock tunnel` pipes (as an ssh ProxyCommand); absent where
   * there is no process to pipe (in-process tests of other commands).
   */
  readonly io?: { readonly input: Readable; readonly output: Writable };
  /**
   * Asks a person for a code (the real process: on its terminal, when stderr is one);
   * absent where nobody can answer, so a knock without a code source is a usage error.
   */
  readonly askCode?: (question: string) => Promise<string>;
}

/** The real process's dependencies. */
export function processDeps(): CliDeps {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    now: systemClock,
    readFile: (path) => readFileSync(path, "utf8"),
    io: { input: process.stdin, output: process.stdout },
    // Where stderr is a terminal somebody is there to type; under ssh it is ssh's own.
    ...(process.stderr.isTTY ? { askCode: askAtTerminal } : {}),
  };
}
