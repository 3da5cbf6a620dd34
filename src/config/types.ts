import type { PrefixLengths } from "../net/prefix.js";

/** Transport protocol of a protected port. */
export type Proto = "tcp" | "udp";

/** One protected port, written `tcp/22` in the config. */
export interface PortSpec {
  readonly proto: Proto;
  readonly port: number;
}

/** A rotating door's schedule and key (`doors.NAME.sequence: {rotate, steps, keyFile}`). */
export interface RotationConfig {
  /** Window length: the paths change at every multiple of this since the Unix epoch. */
  readonly rotateMs: number;
  /** Where the key was read from (shown by `config check`; the key itself never is). */
  readonly keyFile: string;
  /** The HMAC-SHA256 key, at least 256 bits. Never logged. */
  readonly key: Buffer;
}

/** A door: a secret sequence of paths that, with a TOTP code, opens ports. */
export interface DoorConfig {
  readonly name: string;
  /** Paths to GET in order; the last one answers with the challenge. Empty for a rotating door. */
  readonly sequence: readonly string[];
  /** How many paths a knock walks: the static sequence's length, or the rotating door's steps. */
  readonly steps: number;
  /** Set for a rotating door, whose paths are derived per window (src/sequence/derive.ts). */
  readonly rotation?: RotationConfig;
  /** The whole sequence must be walked within this time of its first step. */
  readonly sequenceTimeoutMs: number;
  /** How long an issued challenge stays redeemable. */
  readonly challengeTimeoutMs: number;
  readonly open: readonly PortSpec[];
  /** How long a grant keeps the ports open for the client IP. */
  readonly openForMs: number;
  /** Names of users allowed through this door. */
  readonly users: readonly string[];
  /** CIDRs a knock must come from; empty means anywhere. */
  readonly sources: readonly string[];
  /** Hosts whose ports open (`local` is the gateway's own); absent means `[local]`. */
  readonly hosts?: readonly string[];
  /** The door's tunnel through the listeners; absent when it has none. */
  readonly tunnel?: TunnelConfig;
}

/** `doors.NAME.tunnel`: where a granted client's tunnel goes, and by which routes. */
export interface TunnelConfig {
  /** The target; `host` without brackets. */
  readonly to: { readonly host: string; readonly port: number };
  /** Plain SSH (`SSH-` first) on any listener goes here; at most one door. */
  readonly ssh: boolean;
  /** TLS with this server name (lower case) is terminated and tunnelled. */
  readonly sni?: string;
  /** A WebSocket upgrade on this path opens the tunnel. */
  readonly path?: string;
  /** Send a PROXY protocol v2 header to `to` first. */
  readonly proxyProtocol: boolean;
  /** The SNI route's own certificate (PEM paths); absent: the TLS listener's. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** `tunnels`: limits shared by every tunnel, durations in milliseconds. */
export interface TunnelLimits {
  /** Open tunnels one client IP may hold at once. */
  readonly maxPerIp: number;
  /** Open tunnels in all. */
  readonly maxTotal: number;
  /** A tunnel with no byte either way for this long is closed. */
  readonly idleTimeoutMs: number;
  /** How long a new connection's first bytes are waited for before it is routed. */
  readonly peekTimeoutMs: number;
  /** How many first bytes are read at most to route a connection. */
  readonly peekBytes: number;
  /** How often open tunnels' grants are looked up, to close those revoked on another gateway. */
  readonly revokeCheckMs: number;
}

/** A user and the factors they may prove themselves with at a door's challenge. */
export interface UserConfig {
  readonly name: string;
  /** RFC 4648 base32 secret, upper case, no padding; absent for a passkey-only user. Never logged. */
  readonly secret?: string;
  /** What the user may use at a challenge: `totp`, `passkey` or both. */
  readonly factors: readonly ("totp" | "passkey")[];
  /** The user's passkey file (src/passkey/credentials.ts); set when factors lists passkey. */
  readonly passkeys?: string;
  /** CIDRs this user may knock from; empty means anywhere. */
  readonly sources: readonly string[];
}

/** One HTTP or HTTPS listener. */
export interface ListenConfig {
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsListenConfig;
}

/** A listener's certificate, key and protocol floor (`server.listen[].tls`). */
export interface TlsListenConfig {
  /** PEM certificate (chain) file; re-read when it changes (certbot renewals). */
  readonly cert: string;
  /** PEM private key file; re-read with the certificate. */
  readonly key: string;
  /** The oldest TLS version accepted: TLSv1.2 (default) or TLSv1.3. */
  readonly minVersion: "TLSv1.2" | "TLSv1.3";
}

export type FirewallBackend = "iptables" | "ipset" | "nftables" | "command" | "log";

/** The keys every backend shares: names of webknock's own kernel objects and the sweep. */
interface FirewallCommon {
  /** iptables chain (and prefix of ipset sets) that webknock owns. */
  readonly chain: string;
  /** nftables table (family inet) that webknock owns. */
  readonly table: string;
  /** How often expired grants are looked for. */
  readonly sweepIntervalMs: number;
}

/** argv templates of the `command` backend, validated with the config. */
export interface CommandTemplatesConfig {
  readonly open: readonly string[];
  readonly close: readonly string[];
  /** Where the command backend keeps its table of open rules across restarts. */
  readonly stateFile: string;
}

/**
 * Firewall adapter selection, keyed on `backend`: only the `command` backend has (and
 * always has) its templates.
 */
export type FirewallConfig =
  | (FirewallCommon & { readonly backend: Exclude<FirewallBackend, "command"> })
  | (FirewallCommon & { readonly backend: "command"; readonly command: CommandTemplatesConfig });

/**
 * Brute-force and scanner defences (src/defences); every duration in milliseconds.
 * Limits, bans and scanner counts are kept per client prefix (PrefixLengths).
 */
export interface LimitsConfig extends PrefixLengths {
  /** Consecutive failed codes before the user (on every IP) or the IP is locked out. */
  readonly maxFailures: number;
  /** Failures are forgotten this long after the first one. */
  readonly failureWindowMs: number;
  /** The first lockout; it doubles with each further lockout, up to maxLockoutMs. */
  readonly lockoutMs: number;
  readonly maxLockoutMs: number;
  /** Lockouts are remembered this long for the doubling. */
  readonly lockoutMemoryMs: number;
  readonly scanner: {
    /** Distinct unknown paths within windowMs that mark an IP as a scanner. */
    readonly distinctPaths: number;
    readonly windowMs: number;
    /** How long a scanner's knocks are ignored. */
    readonly banMs: number;
    /** Bound on the IPs counted in memory at once. */
    readonly trackedIps: number;
  };
}

/** The admin API: its own listener, bearer-token protected. Present only when a token is set. */
export interface AdminConfig {
  readonly listen: { readonly host: string; readonly port: number };
  /** The bearer token, read from tokenFile or tokenEnv at start-up. Never logged. */
  readonly token: string;
}

/** Where Redis is: a URL, a Sentinel group that names the master, or a Cluster (`store.redis`). */
export type RedisTarget = string | SentinelTarget | ClusterTarget;

/** A master found through Redis Sentinel; ioredis follows it across failovers. */
export interface SentinelTarget {
  /** The sentinels, `host:port` each; any one that answers is enough. */
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  /** The master group name (`sentinel monitor NAME ...`). */
  readonly name: string;
  /** ACL user and password for the master and replicas (not for the sentinels). */
  readonly username?: string;
  readonly password?: string;
  readonly db?: number;
}

/** A Redis Cluster; ioredis learns the slot map from any seed node and follows it. */
export interface ClusterTarget {
  /** Seed nodes, `host:port` each; any one that answers is enough to learn the others. */
  readonly cluster: readonly { readonly host: string; readonly port: number }[];
  /** ACL user and password, the same on every node. */
  readonly username?: string;
  readonly password?: string;
}

/**
 * How many replicas must acknowledge a TOTP claim before a grant, and for how long to
 * wait (`store.replicaAck`): a claim only the dead master knew would let a promoted
 * replica accept the same code again.
 */
export interface ReplicaAck {
  /** Replicas that must have the claim (`WAIT replicas timeout`). */
  readonly replicas: number;
  /** Longest wait; without enough acknowledgements the knock fails closed (503). */
  readonly timeoutMs: number;
}

/** The validated, resolved configuration the gateway runs on. */
export interface GatewayConfig {
  readonly server: {
    readonly listen: readonly ListenConfig[];
    /** CIDRs or keywords (loopback, private, linklocal) whose X-Forwarded-For is believed. */
    readonly trustProxy: readonly string[];
    /** What a request that is not a knock sees: nginx's answers or the upstream site. */
    readonly decoy: "nginx" | "upstream";
    /** The smoke-screen site's URL; present when `decoy` is `upstream`. */
    readonly upstream?: string;
    /** WebAuthn relying party ID; present whenever a user has passkeys. */
    readonly rpId?: string;
    /** The origin passkey ceremonies must come from; present whenever a user has passkeys. */
    readonly origin?: string;
  };
  readonly store: {
    /** Redis URL, Sentinel group or Cluster; undefined selects the embedded in-memory store. */
    readonly redis?: RedisTarget;
    /**
     * Replica acknowledgement of TOTP claims (`store.replicaAck`: an object, or "off" for
     * `false`); undefined takes the default of the redis form (src/store/replica-ack.ts).
     */
    readonly replicaAck?: ReplicaAck | "off";
    /** Prefix of every Redis key, so several gateways can share a database. */
    readonly keyPrefix: string;
  };
  readonly firewall: FirewallConfig;
  readonly doors: readonly DoorConfig[];
  readonly users: ReadonlyMap<string, UserConfig>;
  readonly limits: LimitsConfig;
  /** Undefined when the config has no admin section: the admin API is off. */
  readonly admin?: AdminConfig;
  readonly tunnels: TunnelLimits;
}
