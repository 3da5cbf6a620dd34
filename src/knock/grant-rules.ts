import type { FirewallRule } from "../firewall/types.js";
import { ruleKey } from "../firewall/types.js";
import { includesLocal } from "../fleet/keys.js";
import { canonicalIp } from "../net/ip.js";
import type { GrantRecord } from "../store/types.js";

/** The address as the firewall lists it, so a listed rule and a grant's rule share a key. */
export const canonical = (ip: string): string => canonicalIp(ip) ?? ip;

/** A rule's identity regardless of expiry, with its address in canonical form. */
export const keyOf = (rule: FirewallRule): string => ruleKey({ ...rule, ip: canonical(rule.ip) });

/** One firewall rule per port of a grant. */
export function rulesOf(grant: GrantRecord): FirewallRule[] {
  return grant.ports.map(({ proto, port }) => ({
    ip: grant.ip,
    proto,
    port,
    expiresAt: grant.expiresAt,
  }));
}

/** The rules this gateway's own firewall holds for a grant: none unless `local` is among its hosts. */
export const localRulesOf = (grant: GrantRecord): FirewallRule[] =>
  includesLocal(grant.hosts) ? rulesOf(grant) : [];

/**
 * One rule per (ip, port) can exist, but several grants of one IP (one per door) may need
 * it. The latest expiry among `grants` that open `rule`'s port on this host, or undefined
 * when none of them does: the rule must then close.
 */
export function neededUntil(
  grants: readonly GrantRecord[],
  rule: FirewallRule,
): number | undefined {
  const key = keyOf(rule);
  let until: number | undefined;
  for (const grant of grants) {
    for (const other of localRulesOf(grant)) {
      if (keyOf(other) === key && (until === undefined || other.expiresAt > until))
        until = other.expiresAt;
    }
  }
  return until;
}
