import { systemClock, type Clock } from "../clock.js";
import type { CommandRunner } from "./runner.js";
import { SerialQueue } from "./queue.js";

/** What every backend that runs programs is built from. */
export interface RunnerAdapterOptions {
  /** Runs kernel tools (or the admin's programs); tests pass one bound to a namespace. */
  readonly run: CommandRunner;
  /** Turns listed timeouts into absolute expiries and expiries into timeouts; defaults to the system clock. */
  readonly now?: Clock;
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

  protected constructor(options: RunnerAdapterOptions) {
    this.run = options.run;
    this.now = options.now ?? systemClock;
  }

  /** Runs `task` after every operation queued before it on this adapter. */
  protected serial<T>(task: () => Promise<T>): Promise<T> {
    return this.queue.run(task);
  }
}
