import type { Clock } from "../clock.js";
import type { GatewayConfig, RedisTarget } from "../config/types.js";
import type { CommandRunner } from "../firewall/runner.js";

/**
 * How bad a finding is. `problem`: the host is not protected as configured (doctor exits
 * non-zero). `warning`: it is now, but will not stay so or cannot be confirmed. `ok` and
 * `info`: printed so the report says what was checked.
 */
export type Severity = "problem" | "warning" | "ok" | "info";

/** One thing a check found. */
export interface Finding {
  readonly severity: Severity;
  /** One sentence: what is wrong (or right), naming the rule, port, file or value. */
  readonly summary: string;
  /** What to do about it, as a command or a setting where there is one. */
  readonly fix?: string;
}

/** What a file's metadata tells the doctor; undefined from `stat` when it is missing. */
export interface FileStat {
  /** Permission bits (`mode & 0o7777`). */
  readonly mode: number;
  readonly uid: number;
}

/** The answers the Redis check needs; a real client or a test's stand-in. */
export interface RedisProbe {
  /** Resolves `PONG`; rejects when Redis cannot be reached. */
  ping(): Promise<string>;
  /** `CONFIG GET key` as a value, or undefined when CONFIG is refused or renamed. */
  configGet(key: string): Promise<string | undefined>;
  /** One `INFO` section parsed into `key -> value`. */
  info(section: string): Promise<ReadonlyMap<string, string>>;
  /** Closes the connection; never rejects. */
  close(): Promise<void>;
}

/** Everything a check reads the live system through, injected so tests choose real or fake. */
export interface DoctorContext {
  /** The validated config. */
  readonly config: GatewayConfig;
  /** The config as written (paths of secret, token and certificate files live only here). */
  readonly raw: unknown;
  /** Path of the config file, for fixes that quote it. */
  readonly configPath: string;
  /** Runs iptables, nft, chronyc and friends (argv only); bound to a netns in tests. */
  readonly run: CommandRunner;
  readonly now: Clock;
  /** Metadata of a file, or undefined when it does not exist. */
  readonly stat: (path: string) => FileStat | undefined;
  /** Reads a file's bytes (certificates). */
  readonly readFile: (path: string) => Buffer;
  /** Opens a Redis connection for the Redis check. */
  readonly connectRedis: (target: RedisTarget) => RedisProbe;
}

/** One check of the live system: small, independent, reporting through findings. */
export interface Check {
  /** Short name shown in the report, e.g. `firewall`, `redis`. */
  readonly name: string;
  /**
   * Inspects the system and returns what it found. Never throws for a finding; a rejection
   * means the check itself broke and is reported as a problem by the runner.
   */
  run(ctx: DoctorContext): Promise<Finding[]>;
}
