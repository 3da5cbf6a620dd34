import { z } from "zod";
import { parseDuration } from "./duration.js";
import { expandCidrs } from "../net/ip.js";

/** Where each default comes from is said beside it; they are frozen named constants. */
export const DEFAULTS = Object.freeze({
  /** knockd's classic seq_timeout is 5-15 s; a phone tapping bookmarks needs a little more. */
  sequenceTimeout: "20s",
  /** Long enough to open an authenticator app and type six digits. */
  challengeTimeout: "60s",
  /** Enough to start an SSH session; the ESTABLISHED rule keeps it alive after. */
  openFor: "30s",
  /** Sweeper period: a grant closes at most this long after its expiry. */
  sweepInterval: "1s",
  keyPrefix: "wk:",
  chain: "WEBKNOCK",
  table: "webknock",
  listen: [{ host: "127.0.0.1", port: 8080 }],
  /**
   * Consecutive failed codes before a user or IP is locked out. NIST SP 800-63B 5.2.2
   * caps this at 100; with 6 digits and 2 valid codes per attempt, 5 tries per lockout
   * give an attacker odds of 1e-5 per lockout, and the lockout doubles each time.
   */
  maxFailures: 5,
  /** Failures older than this are forgotten even without a success. */
  failureWindow: "15m",
  /** The first lockout; each further one within lockoutMemory doubles it. */
  lockout: "1m",
  /** Upper bound of the doubling: a day of lockouts costs an attacker about 24 x 5 guesses. */
  maxLockout: "1h",
  /** Lockouts are counted (for doubling) over this period. */
  lockoutMemory: "24h",
  /**
   * A client asking for this many distinct unknown paths within scannerWindow is a
   * scanner (a browser asks for a few; dirbuster-style tools for hundreds a second).
   */
  scannerDistinctPaths: 20,
  scannerWindow: "10s",
  /** How long a scanner's knocks are ignored, on every gateway sharing the store. */
  scannerBan: "1h",
  /** IPs the in-process scanner counter tracks at once (about 80 bytes each). */
  scannerTrackedIps: 10_000,
  /** Loopback only: the admin API can revoke grants, so it is never exposed by default. */
  adminListen: { host: "127.0.0.1", port: 9090 },
});

/** Kernel object names: iptables allows 28 chars; keep them plain so they never need quoting. */
const KERNEL_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,19}$/;
/** A knock path: absolute, no query or fragment, no dot segments, no doubled slashes. */
const KNOCK_PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/;
const PORT_SPEC = /^(tcp|udp)\/(\d{1,5})$/;
/** RFC 4648 base32 alphabet; otplib and authenticator apps use it unpadded. */
const BASE32 = /^[A-Z2-7]+=*$/;
/** RFC 4226 requires at least 128 bits; 26 base32 characters carry 130. */
const MIN_SECRET_CHARS = 26;

const duration = (example: string) =>
  z.union([z.string(), z.number()]).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({
        code: "custom",
        message: `got ${JSON.stringify(value)}; write a duration such as ${example} (units ms, s, m, h)`,
      });
      return z.NEVER;
    }
    return ms;
  });

const cidrList = z.array(z.string()).superRefine((entries, ctx) => {
  for (const bad of expandCidrs(entries).invalid) {
    ctx.addIssue({
      code: "custom",
      message: `got ${JSON.stringify(bad)}; write a CIDR such as 203.0.113.0/24 or 2001:db8::/32, or a keyword (loopback, private, linklocal)`,
    });
  }
});

const port = z
  .number({ error: "write a port number from 1 to 65535" })
  .int()
  .min(1, "ports run from 1 to 65535")
  .max(65535, "ports run from 1 to 65535");

const portSpec = z.string().transform((text, ctx) => {
  const match = PORT_SPEC.exec(text.trim().toLowerCase());
  const number = Number(match?.[2]);
  if (!match || number < 1 || number > 65535) {
    ctx.addIssue({
      code: "custom",
      message: `got ${JSON.stringify(text)}; write proto/port such as tcp/22 or udp/51820`,
    });
    return z.NEVER;
  }
  return { proto: match[1] as "tcp" | "udp", port: number };
});

const listenSchema = z.strictObject({
  host: z.string().min(1),
  /** 0 picks a free port (tests); the chosen one is logged at start-up. */
  port: z
    .number({ error: "write a port number from 1 to 65535" })
    .int()
    .min(0, "ports run from 1 to 65535")
    .max(65535, "ports run from 1 to 65535"),
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
});

const doorSchema = z.strictObject({
  sequence: z
    .array(
      z
        .string()
        .max(200, "a knock path may be at most 200 characters")
        .regex(
          KNOCK_PATH,
          "write an absolute path such as /img/a81f3c.png: no query, fragment, '..' or '//'",
        )
        .refine((path) => !path.split("/").some((s) => s === "." || s === ".."), {
          message: "a knock path may not contain '.' or '..' segments",
        }),
    )
    .min(1, "a door needs 1 to 16 paths")
    .max(16, "a door needs 1 to 16 paths"),
  sequenceTimeout: duration("20s").prefault(DEFAULTS.sequenceTimeout),
  challengeTimeout: duration("60s").prefault(DEFAULTS.challengeTimeout),
  open: z.array(portSpec).min(1, "list at least one port to open, such as [tcp/22]"),
  openFor: duration("30s").prefault(DEFAULTS.openFor),
  users: z.array(z.string()).min(1, "list at least one user allowed through this door"),
  sources: cidrList.default([]),
});

const userSchema = z
  .strictObject({
    secretFile: z.string().min(1).optional(),
    secretEnv: z.string().min(1).optional(),
    /** Inline secrets are for demos and tests; prefer secretFile with mode 0600. */
    secret: z.string().min(1).optional(),
    sources: cidrList.default([]),
  })
  .refine(
    (user) =>
      [user.secretFile, user.secretEnv, user.secret].filter((v) => v !== undefined).length === 1,
    { message: "give exactly one of secretFile, secretEnv or secret" },
  );

const firewallSchema = z.strictObject({
  backend: z.enum(["iptables", "ipset", "nftables", "command", "log"], {
    error: "choose one of iptables, ipset, nftables, command, log",
  }),
  chain: z
    .string()
    .regex(KERNEL_NAME, "use letters, digits, _ or -, at most 20")
    .default(DEFAULTS.chain),
  table: z
    .string()
    .regex(KERNEL_NAME, "use letters, digits, _ or -, at most 20")
    .default(DEFAULTS.table),
  command: z
    .strictObject({
      open: z.array(z.string()).min(1),
      close: z.array(z.string()).min(1),
      /** FHS: variable state of a program lives under /var/lib. */
      stateFile: z.string().min(1).default("/var/lib/webknock/command-grants.json"),
    })
    .optional(),
  sweepInterval: duration("1s").prefault(DEFAULTS.sweepInterval),
});

const limitsSchema = z.strictObject({
  maxFailures: z
    .number()
    .int()
    .min(1, "allow at least 1 attempt")
    .max(100, "NIST SP 800-63B allows at most 100 consecutive failures; 5 to 10 is usual")
    .default(DEFAULTS.maxFailures),
  failureWindow: duration("15m").prefault(DEFAULTS.failureWindow),
  lockout: duration("1m").prefault(DEFAULTS.lockout),
  maxLockout: duration("1h").prefault(DEFAULTS.maxLockout),
  lockoutMemory: duration("24h").prefault(DEFAULTS.lockoutMemory),
  scanner: z
    .strictObject({
      distinctPaths: z
        .number()
        .int()
        .min(2, "write a number from 2 to 64")
        .max(64, "write a number from 2 to 64: the counter tells apart about 64 paths")
        .default(DEFAULTS.scannerDistinctPaths),
      window: duration("10s").prefault(DEFAULTS.scannerWindow),
      ban: duration("1h").prefault(DEFAULTS.scannerBan),
      trackedIps: z
        .number()
        .int()
        .min(16)
        .max(1_000_000, "at most 1000000 (about 80 MB)")
        .default(DEFAULTS.scannerTrackedIps),
    })
    .prefault({}),
});
/** The admin API is off unless this section names where its bearer token comes from. */
const adminSchema = z
  .strictObject({
    listen: z.strictObject({ host: z.string().min(1), port }).default(DEFAULTS.adminListen),
    tokenFile: z.string().min(1).optional(),
    tokenEnv: z.string().min(1).optional(),
  })
  .refine((admin) => (admin.tokenFile === undefined) !== (admin.tokenEnv === undefined), {
    message:
      "give exactly one of tokenFile or tokenEnv; the admin API never runs without a token (remove the admin section to turn it off)",
  });

/** The raw file's shape. Refinements that span sections live in `load.ts`. */
export const configSchema = z.strictObject({
  server: z
    .strictObject({
      listen: z.array(listenSchema).min(1).default(DEFAULTS.listen),
      /** What a request that is not a knock sees: nginx's answers, or a real site behind. */
      decoy: z
        .enum(["nginx", "upstream"], {
          error: (issue) =>
            `got ${JSON.stringify(issue.input)}; write nginx (answer as Debian's nginx) or upstream (proxy to server.upstream)`,
        })
        .default("nginx"),
      /** The site strangers see when `decoy: upstream`, such as http://127.0.0.1:8081. */
      upstream: z
        .string()
        .regex(/^https?:\/\/[^/\s]+(\/\S*)?$/, "write a URL such as http://127.0.0.1:8081")
        .optional(),
      trustProxy: z
        .unknown()
        .default([])
        .superRefine((value, ctx) => {
          if (!Array.isArray(value)) {
            ctx.addIssue({
              code: "custom",
              message: `got ${JSON.stringify(value)}; trusting every proxy (true) or a hop count lets any client forge its IP. List the proxies' CIDRs instead, such as [loopback] or [10.0.0.5/32]`,
            });
          }
        })
        .pipe(cidrList),
    })
    .superRefine((server, ctx) => {
      if (server.decoy === "upstream" && server.upstream === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["upstream"],
          message:
            "decoy: upstream needs the site to proxy to; set server.upstream such as http://127.0.0.1:8081, or use decoy: nginx",
        });
      }
    })
    .default({ listen: DEFAULTS.listen, decoy: "nginx", trustProxy: [] }),
  store: z
    .strictObject({
      redis: z
        .string()
        .regex(/^rediss?:\/\//, "write a URL such as redis://127.0.0.1:6379/0")
        .optional(),
      keyPrefix: z.string().max(32).default(DEFAULTS.keyPrefix),
    })
    .default({ keyPrefix: DEFAULTS.keyPrefix }),
  firewall: firewallSchema,
  doors: z.record(
    z.string().regex(/^[a-z0-9_-]{1,32}$/, "name doors with a-z, 0-9, _ or -"),
    doorSchema,
  ),
  users: z.record(
    z.string().regex(/^[a-z0-9_.-]{1,64}$/, "name users with a-z, 0-9, _, . or -"),
    userSchema,
  ),
  limits: limitsSchema.prefault({}),
  admin: adminSchema.optional(),
});

export type RawConfig = z.infer<typeof configSchema>;
export { BASE32, MIN_SECRET_CHARS };
