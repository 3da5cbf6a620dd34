import { systemClock, type Clock } from "../clock.js";
import type { CommandRunner } from "./runner.js";
import { SerialQueue } from "./queue.js";
import {
  SessionBrokenError,
  ToolSession,
  type SessionDialect,
  type SessionSpawner,
} from "./session.js";

/** What every backend that runs programs is built from. */
export interface RunnerAdapterOptions {
  /** Runs kernel tools (or the admin's programs); tests pass one bound to a namespace. */
  readonly run: CommandRunner;
  /** Turns listed timeouts into absolute expiries and expiries into timeouts; defaults to the system clock. */
  readonly now?: Clock;
  /**
   * Starts the long-lived `nft -i` / `ipset -` that opens and closes run in, so a grant
   * costs no process start. Without it every command is a process of its own.
   */
  readonly spawn?: SessionSpawner;
}

/**
 * The skeleton the iptables, ipset, nftables and command backends share: the injected
 * runner and clock, and one queue through which every operation runs, so two concurrent
 * opens of the same rule cannot both decide that no rule exists yet and add two.
 */
export abstract class RunnerAdapter {
  protected readonly run: CommandRunner;
  protected readonly now: Clock;
  private readonly queue = new SerialQueue();
  private readonly spawn: SessionSpawner | undefined;
  private session: ToolSession | undefined;

  protected constructor(options: RunnerAdapterOptions) {
    this.run = options.run;
    this.now = options.now ?? systemClock;
    this.spawn = options.spawn;
  }

  /** Stops the long-lived session process, if one runs; the rules stay. */
  release(): void {
    this.session?.close();
  }

  /** Starts the session of `dialect` ahead of the first grant (init calls it). */
  protected startSession(dialect: SessionDialect): void {
    this.sessionFor(dialect)?.start();
  }

  /**
   * Runs one command line in the long-lived session of `dialect` when there is a
   * spawner, else `oneShot`. A session that broke (died, hung, never started) costs
   * nothing but time: the same command then runs as a process of its own, which is
   * safe because every open and close is idempotent. The kernel's refusal is final.
   */
  protected async inSession(
    dialect: SessionDialect,
    line: string,
    oneShot: () => Promise<unknown>,
  ): Promise<void> {
    const session = this.sessionFor(dialect);
    if (session === undefined) {
      await oneShot();
      return;
    }
    try {
      await session.run(line);
    } catch (error) {
      if (!(error instanceof SessionBrokenError)) throw error;
      await oneShot();
    }
  }

  /** Runs `task` after every operation queued before it on this adapter. */
  protected serial<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run(task);
  }

  /** The adapter's one session, made on first use; undefined without a spawner. */
  private sessionFor(dialect: SessionDialect): ToolSession | undefined {
    if (this.spawn === undefined) return undefined;
    this.session ??= new ToolSession({ spawn: this.spawn, dialect });
    return this.session;
  }
}
