import type { PortSpec, Proto } from "../config/types.js";

/** One client IP allowed to open new connections to one port until `expiresAt`. */
export interface FirewallRule {
  /** A validated, normalised IPv4 or IPv6 address (never IPv4-mapped). */
  readonly ip: string;
  readonly proto: Proto;
  readonly port: number;
  /** Epoch milliseconds at which the rule must be gone. */
  readonly expiresAt: number;
}

/** Identifies a rule regardless of its expiry. */
export type RuleKey = Pick<FirewallRule, "ip" | "proto" | "port">;

/** The key used to compare rules: `ip proto/port`. */
export const ruleKey = (rule: RuleKey): string => `${rule.ip} ${rule.proto}/${rule.port}`;

/** Rules to open (or refresh) and rules to close, applied together. */
export interface RuleBatch {
  /** Opened or refreshed exactly as `open` would; for a key listed twice the later expiry wins. */
  readonly open: readonly FirewallRule[];
  /** Closed exactly as `close` would, before the opens. */
  readonly close: readonly RuleKey[];
}

/**
 * A firewall backend. Every method is idempotent, awaits the kernel's answer, never
 * goes through a shell, validates every value before it reaches a command, and
 * rejects with FirewallError (or UnsafeValueError) on failure. It only ever touches
 * the chains, sets or tables it created.
 */
export interface FirewallAdapter {
  /** Backend name as written in `firewall.backend`. */
  readonly name: string;

  /**
   * True when the kernel itself stops admitting new connections under a rule at its expiry
   * (ipset and nftables timeouts, iptables' time match), so a killed gateway or agent still
   * closes on time: the backend fails closed. False when only the sweeper closes it.
   */
  readonly kernelExpiry: boolean;

  /**
   * True when the kernel also deletes the expired rule (set timeouts), so `list()` never
   * reports one and the sweeper can skip the listing. False when an expired rule stays
   * until webknock deletes it (inert under iptables' time match, or still open with the
   * command backend): the sweeper must list and close it. Never true without `kernelExpiry`.
   */
  readonly kernelRemovesExpired: boolean;

  /**
   * Creates webknock's own chain, set or table and the base ruleset protecting `ports`
   * (ESTABLISHED,RELATED accept, grants, then a drop of new connections). Idempotent.
   */
  init(ports: readonly PortSpec[]): Promise<void>;

  /**
   * Lets `rule.ip` open new connections to the port until `rule.expiresAt`. If a rule
   * for the same ip, proto and port exists, its expiry is replaced: never two rules.
   */
  open(rule: FirewallRule): Promise<void>;

  /** Removes the rule for ip, proto and port if present; established connections live on. */
  close(rule: RuleKey): Promise<void>;

  /**
   * Optional: applies a whole batch in a fixed number of kernel calls (one `nft -f -`
   * transaction, one `ipset restore`), with the same outcome as a `close` per key then an
   * `open` per rule. Every value is validated before the command runs; an invalid one
   * rejects the whole batch and nothing is applied. Backends without it are driven one
   * rule at a time by `applyRules`.
   */
  applyBatch?(batch: RuleBatch): Promise<void>;

  /** Every grant rule webknock currently has in the kernel, with its expiry. */
  list(): Promise<FirewallRule[]>;

  /**
   * Closes every grant webknock holds (everything `list()` could report) and keeps the base
   * ruleset, so afterwards every protected port drops new connections from everyone until
   * the next `open`: a cleanup that fails closed. Established sessions live on. Creates
   * nothing: with no chain, set or table there is nothing to close. Idempotent.
   */
  flush(): Promise<void>;

  /**
   * Removes every object webknock made (its chains and the jump to them, sets, table; the
   * command backend's rules and state file) and nothing else, so the protected ports fall
   * back to the host's own rules. Idempotent.
   */
  uninstall(): Promise<void>;

  /**
   * Optional: stops the helper process a backend keeps for speed (the `nft -i` or `ipset -`
   * session). Rules stay; a later call starts it again. Called when the owner shuts down.
   */
  release?(): void;
}
