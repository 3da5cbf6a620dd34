import { openSync } from "node:fs";
import { createInterface } from "node:readline";
import { ReadStream, WriteStream } from "node:tty";
import { CliUsageError } from "./config-option.js";

/** Six digits, as an authenticator app shows them (spaces people type are dropped). */
export function parseTypedCode(typed: string): string {
  const code = typed.replace(/\s+/g, "");
  if (!/^[0-9]{6}$/.test(code))
    throw new CliUsageError("The code is the six digits your authenticator app shows.");
  return code;
}

/**
 * Asks for the code on the controlling terminal (`/dev/tty`), as ssh asks for a password,
 * so it works where stdin and stdout are not the person's: `webknock tunnel` as an ssh
 * ProxyCommand, whose stdin and stdout are the connection. Rejects with a usage error
 * when the process has no terminal (cron, CI).
 */
export async function askAtTerminal(question: string): Promise<string> {
  let fds: [number, number];
  try {
    // One descriptor per stream: each stream closes its own.
    fds = [openSync("/dev/tty", "r"), openSync("/dev/tty", "w")];
  } catch {
    throw new CliUsageError(
      "No code: pass --secret-file FILE, --code DIGITS or use --profile (there is no terminal to ask on).",
    );
  }
  // tty streams, not fs streams: a pending fs read of a terminal would hold the process.
  const input = new ReadStream(fds[0]);
  const output = new WriteStream(fds[1]);
  const lines = createInterface({ input, output, terminal: false });
  try {
    output.write(question);
    const answer = await new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      lines.once("close", () => {
        reject(new CliUsageError("No code was typed (the terminal closed)."));
      });
    });
    return parseTypedCode(answer);
  } finally {
    lines.close();
    input.destroy();
    output.destroy();
  }
}
