import { randomBytes } from "node:crypto";
import type { Readable, Writable } from "node:stream";
import { FirewallError } from "../errors.js";
import { SerialQueue } from "./queue.js";

/** A started tool: its stdin, its stderr, and how to stop it. */
export interface SessionProcess {
  readonly stdin: Writable;
  readonly stderr: Readable;
  /** Ends the process (SIGKILL is fine: every command is its own kernel transaction). */
  kill(): void;
  /** Registers the one call made when the process is gone, however it went. */
  onExit(listener: () => void): void;
}

/** Starts a long-lived tool with an argv array (never a shell); tests bind it to a namespace. */
export type SessionSpawner = (file: string, args: readonly string[]) => SessionProcess;

/**
 * How one tool reads commands line by line and says a line is done. Neither `nft -i` nor
 * `ipset -` prints anything on success, so after each command the session sends a marker
 * line that the tool's parser rejects at once, touching nothing in the kernel, with an
 * error on stderr that quotes the marker's unique token. stderr is one ordered stream, so
 * whatever it carries before the marker's error is the command's own error output.
 */
export interface SessionDialect {
  /** Program and arguments of the interactive mode. */
  readonly file: string;
  readonly args: readonly string[];
  /** The marker line for `token` (letters and digits). */
  marker(token: string): string;
  /** Where the marker's whole error block lies in `stderr`; undefined until all of it arrived. */
  findMarker(stderr: string, token: string): MarkerSpan | undefined;
}

/** The marker's error block within the stderr text read so far. */
export interface MarkerSpan {
  /** Where the block begins: everything before it is the command's own output. */
  readonly start: number;
  /** Just after the block's last newline. */
  readonly end: number;
}

/** The first match of `pattern` (which must capture the block), as a span. */
function spanOf(stderr: string, pattern: RegExp): MarkerSpan | undefined {
  const match = pattern.exec(stderr);
  if (match === null) return undefined;
  const start = match.index + (match[1]?.length ?? 0);
  return { start, end: match.index + match[0].length };
}

/** `nft -i`: a line is one transaction (commands joined by `;` are applied atomically). */
export const NFT_DIALECT: SessionDialect = {
  file: "nft",
  args: ["-i"],
  marker: (token) => token,
  // "Error: syntax error, ...\n<token>\n       ^\n": the error line, the echo, the carets.
  findMarker: (stderr, token) =>
    spanOf(stderr, new RegExp(`(^|\\n)[^\\n]*\\n${token}\\n[ \\t^~]*\\n`)),
};

/** `ipset -`: interactive mode; `create m <token>` fails in the parser ("typename '<token>' is unknown"). */
export const IPSET_DIALECT: SessionDialect = {
  file: "ipset",
  args: ["-"],
  marker: (token) => `create m ${token}`,
  findMarker: (stderr, token) => spanOf(stderr, new RegExp(`(^|\\n)[^\\n]*'${token}'[^\\n]*\\n`)),
};

/** Options of a session. */
export interface ToolSessionOptions {
  readonly spawn: SessionSpawner;
  readonly dialect: SessionDialect;
  /** A command not answered within this is abandoned and the process killed. */
  readonly timeoutMs?: number;
}

/** The process could not run the command (it died, hung or never started): not the kernel's answer. */
export class SessionBrokenError extends FirewallError {}

/** One command in flight. */
interface Pending {
  readonly token: string;
  readonly line: string;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * One long-lived `nft -i` or `ipset -` that runs firewall commands one line at a time. A
 * grant then costs a write to a pipe and one netlink transaction instead of a process
 * start (10-30 ms from Node on a busy host, most of a remote agent's latency). The process
 * is started on first use and again after it dies; commands run strictly in order.
 */
export class ToolSession {
  private readonly queue = new SerialQueue();
  private readonly timeoutMs: number;
  private process: SessionProcess | undefined;
  private stderr = "";
  private pending: Pending | undefined;

  constructor(private readonly options: ToolSessionOptions) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Runs one command line. Resolves when the tool has applied it; rejects with a
   * FirewallError quoting the tool's error when the kernel refused it, or with a
   * SessionBrokenError when the process failed (the caller may retry another way).
   */
  run(line: string): Promise<void> {
    if (/[\r\n]/.test(line)) throw new FirewallError("A session command must be one line.");
    return this.queue.run(() => this.send(line));
  }

  /**
   * Starts the process now, so the first grant does not wait for it (a start costs tens
   * of milliseconds, hundreds on a loaded host). A failed start shows on the next run().
   */
  start(): void {
    void this.queue
      .run(() => {
        this.ensureProcess();
        return Promise.resolve();
      })
      .catch(() => undefined);
  }

  /** Stops the process; a later run() starts a new one. */
  close(): void {
    this.process?.kill();
    this.process = undefined;
  }

  private send(line: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const child = this.ensureProcess();
      const token = `wkmark${randomBytes(6).toString("hex")}`;
      const timer = setTimeout(() => {
        this.fail(
          new SessionBrokenError(
            `${this.options.dialect.file} did not answer "${line}" within ${this.timeoutMs} ms`,
          ),
        );
        this.close();
      }, this.timeoutMs);
      timer.unref();
      this.pending = {
        token,
        line,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      child.stdin.write(`${line}\n${this.options.dialect.marker(token)}\n`);
    });
  }

  private ensureProcess(): SessionProcess {
    if (this.process !== undefined) return this.process;
    const { file, args } = this.options.dialect;
    const child = this.options.spawn(file, args);
    this.process = child;
    this.stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      if (this.process !== child) return;
      this.stderr += chunk;
      this.settle();
    });
    // A write after the tool died must not crash the gateway: onExit reports it.
    child.stdin.on("error", () => undefined);
    child.onExit(() => {
      if (this.process !== child) return;
      this.process = undefined;
      this.fail(new SessionBrokenError(`${file} ${args.join(" ")} exited`));
    });
    return child;
  }

  /** Completes the command in flight once its marker's error has arrived. */
  private settle(): void {
    const pending = this.pending;
    if (pending === undefined) {
      this.stderr = ""; // nothing is waiting: output of no command of ours
      return;
    }
    const span = this.options.dialect.findMarker(this.stderr, pending.token);
    if (span === undefined) return;
    const own = this.stderr.slice(0, span.start).trim();
    this.stderr = this.stderr.slice(span.end);
    this.pending = undefined;
    if (own === "") pending.resolve();
    else
      pending.reject(
        new FirewallError(`${this.options.dialect.file} refused "${pending.line}": ${own}`),
      );
  }

  private fail(error: Error): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(error);
  }
}
