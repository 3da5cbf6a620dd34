/**
 * Names of the fleet's Redis keys and the rule for host names: one home for both, so the
 * gateway, the agent and the ACL rule `webknock agent add` prints always agree.
 */

/** The host a door names by default: the gateway's own, programmed by the gateway itself. */
export const LOCAL_HOST = "local";

/** A host name: what `agent.name` and `doors.X.hosts` accept (also safe inside a key and ACL). */
export const HOST_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** The Redis keys of one host. Every one carries the hash tag `{host}`, so they share a Cluster slot. */
export interface HostKeys {
  /** Stream of grant events (open/refresh, revoke) for this host; the gateway appends, the agent reads. */
  readonly events: string;
  /** Hash grant id -> grant JSON: the live grants (the snapshot an agent starts from). */
  readonly grants: string;
  /** Sorted set grant id -> expiry, so the gateway prunes expired snapshot entries cheaply. */
  readonly expiry: string;
  /** Hash the agent writes: cursor, heartbeat, grants applied, backend. */
  readonly agent: string;
  /** Hash the agent writes: grant id -> expiry it programmed (what the knocker is told). */
  readonly confirmed: string;
}

/** The keys of `host` under `prefix` (the store's keyPrefix). */
export function hostKeys(prefix: string, host: string): HostKeys {
  const base = `${prefix}fleet:{${host}}:`;
  return {
    events: `${base}events`,
    grants: `${base}grants`,
    expiry: `${base}gx`,
    agent: `${base}agent`,
    confirmed: `${base}confirmed`,
  };
}

/** Hosts other than the gateway's own, in the order given. */
export function remoteHosts(hosts: readonly string[] | undefined): string[] {
  return (hosts ?? []).filter((host) => host !== LOCAL_HOST);
}

/** True when the gateway itself programs the grant (no hosts named, or `local` among them). */
export function includesLocal(hosts: readonly string[] | undefined): boolean {
  return hosts === undefined || hosts.includes(LOCAL_HOST);
}
