import { assertRule, assertRuleKey, secondsLeft } from "./validate.js";
import {
  ruleKey,
  type FirewallAdapter,
  type FirewallRule,
  type RuleBatch,
  type RuleKey,
} from "./types.js";

/**
 * Applies a batch through the adapter's own batch path when it has one (a restart with
 * 10,000 grants is one kernel transaction instead of 10,000 commands), else one call per
 * rule: closes first, then opens, the same order the batch paths keep.
 */
export async function applyRules(adapter: FirewallAdapter, batch: RuleBatch): Promise<void> {
  if (batch.open.length === 0 && batch.close.length === 0) return;
  if (adapter.applyBatch !== undefined) {
    await adapter.applyBatch(batch);
    return;
  }
  // Validated first, so a bad value rejects the batch before any rule changes, as the batch
  // paths do (the adapter validates each again).
  const closes = batch.close.map(assertRuleKey);
  const opens = latestPerKey(batch.open.map(assertRule));
  for (const key of closes) await adapter.close(key);
  for (const rule of opens) await adapter.open(rule);
}

/** One rule per ip, proto and port: the one with the latest expiry, in first-seen order. */
export function latestPerKey(rules: readonly FirewallRule[]): FirewallRule[] {
  const byKey = new Map<string, FirewallRule>();
  for (const rule of rules) {
    const key = ruleKey(rule);
    if ((byKey.get(key)?.expiresAt ?? -Infinity) < rule.expiresAt) byKey.set(key, rule);
  }
  return [...byKey.values()];
}

/** One rule to open with the seconds it has left: what a kernel batch writes as a timeout. */
export interface TimedRule {
  readonly rule: RuleKey;
  readonly seconds: number;
}

/**
 * A batch's opens, validated, one per key (the latest expiry), each with its remaining
 * seconds at `now`; undefined when the batch is empty, so no command needs to run.
 */
export function timedOpens(batch: RuleBatch, now: number): TimedRule[] | undefined {
  const opens = latestPerKey(batch.open.map(assertRule)).map((rule) => ({
    rule: rule,
    seconds: secondsLeft(rule.expiresAt, now),
  }));
  return opens.length > 0 || batch.close.length > 0 ? opens : undefined;
}
