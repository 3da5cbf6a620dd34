import type { GatewayConfig, ListenConfig } from "../config/types.js";
import { fleetHosts } from "../fleet/hosts.js";

/** Said after every key a reload cannot apply. */
const RESTART = "this needs a restart (systemctl restart webknock); the reload changed nothing";

/**
 * The keys whose change a running gateway cannot take: listener addresses (and whether
 * one speaks TLS), the decoy, the store connection, the firewall backend, the admin
 * listener and the set of agents' hosts (the fleet is wired at start). One sentence each,
 * naming the key; empty when the new config can be applied live. A reload with any of
 * them is refused as a whole, so the running config is always one file's, never a mix.
 */
export function restartOnlyChanges(old: GatewayConfig, next: GatewayConfig): string[] {
  const problems: string[] = [];
  const changed = (key: string, before: unknown, after: unknown, shown = true) => {
    if (same(before, after)) return;
    const what = shown ? `changed from ${show(before)} to ${show(after)}` : "changed";
    problems.push(`${key}: ${what}; ${RESTART}`);
  };
  const [a, b] = [old.server.listen, next.server.listen];
  if (a.length !== b.length) {
    problems.push(`server.listen: ${b.length} listener(s), ${a.length} before; ${RESTART}`);
  } else {
    a.forEach((before, i) => {
      const after = b[i] as ListenConfig;
      changed(`server.listen[${i}].host`, before.host, after.host);
      changed(`server.listen[${i}].port`, before.port, after.port);
      changed(`server.listen[${i}].tls`, tlsState(before), tlsState(after));
    });
  }
  changed("server.decoy", old.server.decoy, next.server.decoy);
  changed("server.upstream", old.server.upstream, next.server.upstream);
  // The Redis target may hold a password: name the key, never the value.
  changed("store.redis", old.store.redis, next.store.redis, false);
  changed("store.keyPrefix", old.store.keyPrefix, next.store.keyPrefix);
  changed("firewall", old.firewall, next.firewall, false);
  changed("admin", old.admin === undefined ? "off" : "on", next.admin === undefined ? "off" : "on");
  if (old.admin !== undefined && next.admin !== undefined) {
    changed("admin.listen", old.admin.listen, next.admin.listen);
  }
  changed("doors.*.hosts (the agents' hosts)", fleetHosts(old), fleetHosts(next));
  return problems;
}

/** What a reload changed, one short phrase each, for the log and `webknock reload`. */
export function describeChanges(old: GatewayConfig, next: GatewayConfig): string[] {
  const changes: string[] = [];
  const doors = (c: GatewayConfig) => new Map(c.doors.map((d) => [d.name, d]));
  changes.push(...setChanges("doors", doors(old), doors(next)));
  changes.push(...setChanges("users", old.users, next.users));
  if (!same(old.limits, next.limits)) changes.push("limits changed");
  if (!same(old.server.trustProxy, next.server.trustProxy))
    changes.push("server.trustProxy changed");
  if (old.admin?.token !== next.admin?.token) changes.push("admin token changed");
  return changes;
}

/** `doors added: a`, `doors removed: b`, `doors changed: c` (values compared, never shown). */
function setChanges<T>(
  what: string,
  before: ReadonlyMap<string, T>,
  after: ReadonlyMap<string, T>,
): string[] {
  const added = [...after.keys()].filter((k) => !before.has(k));
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const changed = [...after.keys()].filter(
    (k) => before.has(k) && !same(before.get(k), after.get(k)),
  );
  return [
    ...(added.length > 0 ? [`${what} added: ${added.join(", ")}`] : []),
    ...(removed.length > 0 ? [`${what} removed: ${removed.join(", ")}`] : []),
    ...(changed.length > 0 ? [`${what} changed: ${changed.join(", ")}`] : []),
  ];
}

/** Whether a listener speaks TLS; its files and minVersion change live. */
const tlsState = (listen: ListenConfig): string => (listen.tls === undefined ? "off" : "on");

/** Deep equality of config values (plain data, Buffers for rotation keys). */
function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function show(value: unknown): string {
  return value === undefined ? "nothing" : JSON.stringify(value);
}
