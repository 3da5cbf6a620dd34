import { createHash } from "node:crypto";
import { hostKeys } from "./keys.js";

/** The Redis user an agent connects as. */
export const agentUser = (host: string): string => `webknock-agent-${host}`;

/** Escapes Redis glob characters, so a key prefix is matched literally in an ACL pattern. */
function literal(key: string): string {
  return key.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/**
 * Commands an agent may run: connect (ioredis' ready check uses INFO, a Cluster client's
 * CLUSTER SLOTS and CLUSTER INFO), read its stream and snapshot, and write its own two hashes. Nothing
 * else: no EVAL, no XADD, no KEYS.
 */
const AGENT_COMMANDS = [
  "+ping",
  "+info",
  // A Cluster client reads the slot map and the cluster's state: topology, no data.
  "+cluster|slots",
  "+cluster|info",
  "+select",
  "+client|setname",
  "+multi",
  "+exec",
  "+discard",
  "+xread",
  "+xinfo|stream",
  "+xrange",
  "+hgetall",
  "+hset",
  "+hdel",
  "+del",
];

/**
 * The ACL SETUSER arguments for host's agent: `%R~` read-only on its events and snapshot,
 * read-write on its own cursor/heartbeat and confirmation hashes, no other key and no
 * Pub/Sub channel. The password is stored as its SHA-256, never in clear.
 */
export function agentAclArgs(prefix: string, host: string, password: string): string[] {
  const keys = hostKeys(prefix, host);
  const sha = createHash("sha256").update(password).digest("hex");
  return [
    agentUser(host),
    "reset",
    "on",
    `#${sha}`,
    "resetchannels",
    "-@all",
    ...AGENT_COMMANDS,
    `%R~${literal(keys.events)}`,
    `%R~${literal(keys.grants)}`,
    `~${literal(keys.agent)}`,
    `~${literal(keys.confirmed)}`,
  ];
}
