import { DEFAULT_PREFIX_LENGTHS } from "../net/prefix.js";
import { z } from "zod";
import { DEFAULTS } from "./defaults.js";
import { cidrList, duration, intIn, port, portSpec, text } from "./fields.js";
import { firewallSchema } from "./firewall-schema.js";
import {
  DOOR_NAME,
  DOOR_NAME_FIX,
  isKnockPath,
  KNOCK_PATH_FIX,
  USER_NAME,
  USER_NAME_FIX,
} from "./names.js";
import { HOST_NAME } from "../fleet/keys.js";
import { tunnelDoorSchema, tunnelsSchema } from "./tunnel-schema.js";

export { DEFAULTS } from "./defaults.js";

/** The TLS versions `server.listen[].tls.minVersion` accepts; older ones are broken. */
export const TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"] as const;

const HOST_FIX = "write a host name or address such as 127.0.0.1 or ::1";

const listenSchema = z.strictObject({
  host: text(HOST_FIX),
  /** 0 picks a free port (tests); the chosen one is logged at start-up. */
  port: intIn(0, 65535, "write a port number from 1 to 65535 (0 picks a free one)"),
  tls: z
    .strictObject({
      cert: text("write the path of a PEM certificate file"),
      key: text("write the path of a PEM private key file"),
      /** The oldest TLS version a client may speak; 1.2 by default, 1.3 to refuse 1.2. */
      minVersion: z
        .enum(TLS_VERSIONS, { error: "write TLSv1.2 (the default) or TLSv1.3" })
        .default("TLSv1.2"),
    })
    .optional(),
});

const SEQUENCE_FIX = "list 1 to 16 paths such as [/img/a81f3c.png, /p/b7d2e4]";

/** The static form: the paths themselves, in order. */
const staticSequence = z
  .array(z.string(KNOCK_PATH_FIX).refine(isKnockPath, KNOCK_PATH_FIX), { error: SEQUENCE_FIX })
  .min(1, SEQUENCE_FIX)
  .max(16, SEQUENCE_FIX);

/** The rotating form: paths derived per window from a key file (src/sequence). */
const rotatingSequence = z.strictObject({
  rotate: duration("10m"),
  steps: intIn(1, 16, "write the number of paths per knock, from 1 to 16"),
  keyFile: text("write the path of the key file, such as /etc/webknock/secrets/api.seqkey"),
});

const SEQUENCE_FORMS_FIX = `${SEQUENCE_FIX}, or {rotate: 10m, steps: 3, keyFile: FILE} for a rotating door`;

/** The two forms of doors.NAME.sequence; exported so the schema test walks their rules. */
export const SEQUENCE_FORMS = { static: staticSequence, rotating: rotatingSequence } as const;

/**
 * A list is the static form, a mapping the rotating one. Chosen by type here rather than
 * by z.union, which reports "invalid union" instead of the chosen form's own issue (such
 * as doors.api.sequence.rotate: got "10x"; write a duration ...) whenever that issue aborts.
 */
const sequenceSchema = z.unknown().transform((value, ctx) => {
  if (value === undefined) {
    ctx.addIssue({
      code: "invalid_type",
      expected: "array",
      input: value,
      message: SEQUENCE_FORMS_FIX,
    });
    return z.NEVER;
  }
  if (typeof value !== "object" || value === null) {
    ctx.addIssue({ code: "custom", input: value, message: SEQUENCE_FORMS_FIX });
    return z.NEVER;
  }
  const parsed = Array.isArray(value)
    ? staticSequence.safeParse(value, { reportInput: true })
    : rotatingSequence.safeParse(value, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) ctx.addIssue(issue as never);
    return z.NEVER;
  }
  return parsed.data;
});

const doorSchema = z
  .strictObject({
    sequence: sequenceSchema,
    sequenceTimeout: duration("20s").prefault(DEFAULTS.sequenceTimeout),
    challengeTimeout: duration("60s").prefault(DEFAULTS.challengeTimeout),
    open: z.array(portSpec, { error: "list the ports to open, such as [tcp/22]" }),
    openFor: duration("30s").prefault(DEFAULTS.openFor),
    users: z
      .array(z.string("write a user name"), { error: "list the users allowed, such as [alice]" })
      .min(1, "list at least one user allowed through this door, such as [alice]"),
    sources: cidrList.default([]),
    /** Hosts whose ports open: `local` (the gateway's own) or agents' names (docs/fleet.md). */
    hosts: z
      .array(
        z
          .string()
          .regex(HOST_NAME, "name hosts with a-z, 0-9, _ or - (at most 32), as in agent.name"),
      )
      .min(1, "name at least one host, such as [local] or [web1, web2]")
      .max(64, "a door may name at most 64 hosts")
      .optional(),
    /** The door's tunnel through the listeners (docs/tunnel.md); absent: no tunnel. */
    tunnel: tunnelDoorSchema.optional(),
  })
  .superRefine((door, ctx) => {
    // A tunnel-only door opens no port: its grant only lets the client through a tunnel.
    if (door.open.length === 0 && door.tunnel === undefined) {
      ctx.addIssue({
        code: "custom",
        input: door,
        message:
          "a door without a tunnel must open a port: list one in open, such as [tcp/22], or add a tunnel",
      });
    }
  });

const userSchema = z
  .strictObject({
    secretFile: text("write the path of a file holding the base32 secret").optional(),
    secretEnv: text("write the name of an environment variable holding the secret").optional(),
    /** Inline secrets are for demos and tests; prefer secretFile with mode 0600. */
    secret: text("write a base32 secret, or better use secretFile").optional(),
    sources: cidrList.default([]),
  })
  .superRefine((user, ctx) => {
    const given = (["secretFile", "secretEnv", "secret"] as const).filter(
      (key) => user[key] !== undefined,
    );
    if (given.length !== 1) {
      // The input shown is which keys were given, never their values.
      ctx.addIssue({
        code: "custom",
        input: given,
        message: "give exactly one of secretFile, secretEnv or secret",
      });
    }
  });

const limitsSchema = z.strictObject({
  maxFailures: intIn(
    1,
    100,
    "write a whole number from 1 to 100 (NIST SP 800-63B allows at most 100; 5 to 10 is usual)",
  ).default(DEFAULTS.maxFailures),
  failureWindow: duration("15m").prefault(DEFAULTS.failureWindow),
  lockout: duration("1m").prefault(DEFAULTS.lockout),
  maxLockout: duration("1h").prefault(DEFAULTS.maxLockout),
  lockoutMemory: duration("24h").prefault(DEFAULTS.lockoutMemory),
  // One client = one address of this prefix: limits, bans and scanner counts are kept
  // per IPv4 /ipv4Prefix and IPv6 /ipv6Prefix network (see src/net/prefix.ts).
  ipv4Prefix: z
    .number()
    .int()
    .min(8, "write a prefix length from 8 to 32; 32 counts each address on its own")
    .max(32, "write a prefix length from 8 to 32; 32 counts each address on its own")
    .default(DEFAULT_PREFIX_LENGTHS.ipv4Prefix),
  ipv6Prefix: z
    .number()
    .int()
    .min(16, "write a prefix length from 16 to 128; 64 (one end site) is usual")
    .max(128, "write a prefix length from 16 to 128; 64 (one end site) is usual")
    .default(DEFAULT_PREFIX_LENGTHS.ipv6Prefix),
  scanner: z
    .strictObject({
      distinctPaths: intIn(
        2,
        64,
        "write a whole number from 2 to 64: the counter tells apart about 64 paths",
      ).default(DEFAULTS.scannerDistinctPaths),
      window: duration("10s").prefault(DEFAULTS.scannerWindow),
      ban: duration("1h").prefault(DEFAULTS.scannerBan),
      trackedIps: intIn(
        16,
        1_000_000,
        "write a whole number from 16 to 1000000 (about 80 bytes each)",
      ).default(DEFAULTS.scannerTrackedIps),
    })
    .prefault({}),
});
/** The admin API is off unless this section names where its bearer token comes from. */
const adminSchema = z
  .strictObject({
    listen: z.strictObject({ host: text(HOST_FIX), port }).default(DEFAULTS.adminListen),
    tokenFile: text("write the path of a file holding the token (mode 0600)").optional(),
    tokenEnv: text("write the name of an environment variable holding the token").optional(),
  })
  .superRefine((admin, ctx) => {
    const given = (["tokenFile", "tokenEnv"] as const).filter((key) => admin[key] !== undefined);
    if (given.length !== 1) {
      ctx.addIssue({
        code: "custom",
        input: given,
        message:
          "give exactly one of tokenFile or tokenEnv; the admin API never runs without a token (remove the admin section to turn it off)",
      });
    }
  });

const TRUST_PROXY_FIX =
  "trusting every proxy (true) or a hop count lets any client forge its IP. List the proxies' CIDRs instead, such as [loopback] or [10.0.0.5/32]";

/** `host:port` of a sentinel; IPv6 hosts in brackets. */
const hostPort = z.string().transform((text, ctx) => {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
  const number = Number(match?.[2]);
  if (!match?.[1] || number < 1 || number > 65535) {
    ctx.addIssue({
      code: "custom",
      input: text,
      message: "write host:port such as 10.0.0.5:26379",
    });
    return z.NEVER;
  }
  return { host: match[1].replace(/^\[|\]$/g, ""), port: number };
});

/** store.redis as a Sentinel group: `{ sentinels: [host:port, ...], name: mymaster }`. */
const sentinelSchema = z.strictObject({
  sentinels: z.array(hostPort).min(1, "list at least one sentinel, such as [10.0.0.5:26379]"),
  name: z
    .string({ error: "give the master group name, as in `sentinel monitor NAME`" })
    .min(1, "give the master group name, as in `sentinel monitor NAME`"),
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
  db: z.number().int().min(0).max(15).optional(),
});

const redisUrl = z
  .string()
  .regex(/^rediss?:\/\//, "write a URL such as redis://127.0.0.1:6379/0, or a Sentinel group");

/**
 * A URL or a Sentinel group, chosen by the value's type, so an error speaks about the
 * form the user wrote (a plain union would only say "Invalid input").
 */
const redisTarget = z.unknown().transform((value, ctx) => {
  if (typeof value !== "string" && (typeof value !== "object" || value === null)) {
    ctx.addIssue({
      code: "custom",
      input: value,
      message: "write a URL such as redis://127.0.0.1:6379/0, or { sentinels: [host:port], name }",
    });
    return z.NEVER;
  }
  const options = { reportInput: true };
  const parsed =
    typeof value === "string"
      ? redisUrl.safeParse(value, options)
      : sentinelSchema.safeParse(value, options);
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    ctx.addIssue({
      code: "custom",
      input: issue.input,
      message: issue.message,
      path: issue.path,
    });
  }
  return z.NEVER;
});

/** The store section; the agent's config takes the same. */
export const storeSchema = z.strictObject({
  redis: redisTarget.optional(),
  keyPrefix: z
    .string("write a short prefix such as wk:")
    .max(32, "write a prefix of at most 32 characters, such as wk:")
    .default(DEFAULTS.keyPrefix),
});

/** The raw file's shape. Refinements that span sections live in `load.ts`. */
export const configSchema = z.strictObject({
  server: z
    .strictObject({
      listen: z
        .array(listenSchema, { error: "list listeners such as [{host: 127.0.0.1, port: 8080}]" })
        .min(1, "list at least one listener such as {host: 127.0.0.1, port: 8080}")
        .default(DEFAULTS.listen),
      /** What a request that is not a knock sees: nginx's answers, or a real site behind. */
      decoy: z
        .enum(["nginx", "upstream"], {
          error: "choose nginx (answer as Debian's nginx) or upstream (proxy to server.upstream)",
        })
        .default("nginx"),
      /** The site strangers see when `decoy: upstream`, such as http://127.0.0.1:8081. */
      upstream: z
        .string("write a URL such as http://127.0.0.1:8081")
        .regex(/^https?:\/\/[^/\s]+(\/\S*)?$/, "write a URL such as http://127.0.0.1:8081")
        .optional(),
      trustProxy: z
        .unknown()
        .default([])
        .superRefine((value, ctx) => {
          if (!Array.isArray(value)) {
            ctx.addIssue({ code: "custom", input: value, message: TRUST_PROXY_FIX });
          }
        })
        .pipe(cidrList),
    })
    .superRefine((server, ctx) => {
      if (server.decoy === "upstream" && server.upstream === undefined) {
        ctx.addIssue({
          code: "custom",
          input: server,
          message:
            "decoy: upstream needs the site to proxy to; set server.upstream such as http://127.0.0.1:8081, or use decoy: nginx",
        });
      }
    })
    .default({ listen: DEFAULTS.listen, decoy: "nginx", trustProxy: [] }),
  store: storeSchema.default({ keyPrefix: DEFAULTS.keyPrefix }),
  firewall: firewallSchema,
  doors: z.record(z.string().regex(DOOR_NAME, DOOR_NAME_FIX), doorSchema, {
    error: "write a mapping of door names to doors such as {ssh: {sequence: [...]}}",
  }),
  users: z.record(z.string().regex(USER_NAME, USER_NAME_FIX), userSchema, {
    error: "write a mapping of user names to users",
  }),
  limits: limitsSchema.prefault({}),
  admin: adminSchema.optional(),
  /** Limits of the tunnels doors open through the listeners. */
  tunnels: tunnelsSchema.prefault({}),
});

export type RawConfig = z.infer<typeof configSchema>;
