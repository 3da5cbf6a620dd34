import { z } from "zod";
import { DEFAULTS } from "./defaults.js";
import { parseDuration } from "./duration.js";
import { intIn } from "./fields.js";

/** `host:port` of a sentinel or Cluster node; IPv6 hosts in brackets. */
const hostPort = (example: string) =>
  z.string(`write host:port such as ${example}`).transform((text, ctx) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text.trim());
    const number = Number(match?.[2]);
    if (!match?.[1] || number < 1 || number > 65535) {
      ctx.addIssue({ code: "custom", input: text, message: `write host:port such as ${example}` });
      return z.NEVER;
    }
    return { host: match[1].replace(/^\[|\]$/g, ""), port: number };
  });

const credentials = {
  username: z.string().min(1).optional(),
  password: z.string().min(1).optional(),
};

/** store.redis as a Sentinel group: `{ sentinels: [host:port, ...], name: mymaster }`. */
const sentinelSchema = z.strictObject({
  sentinels: z
    .array(hostPort("10.0.0.5:26379"))
    .min(1, "list at least one sentinel, such as [10.0.0.5:26379]"),
  name: z
    .string({ error: "give the master group name, as in `sentinel monitor NAME`" })
    .min(1, "give the master group name, as in `sentinel monitor NAME`"),
  ...credentials,
  db: z.number().int().min(0).max(15).optional(),
});

/** store.redis as a Cluster: `{ cluster: [host:port, ...] }`, any nodes as seeds. */
const clusterSchema = z.strictObject({
  cluster: z
    .array(hostPort("10.0.0.5:7000"), {
      error: "list the Cluster's nodes such as [10.0.0.5:7000, 10.0.0.6:7000]",
    })
    .min(1, "list at least one Cluster node, such as [10.0.0.5:7000]"),
  ...credentials,
});

const redisUrl = z
  .string()
  .regex(
    /^rediss?:\/\//,
    "write a URL such as redis://127.0.0.1:6379/0, a Sentinel group or a Cluster",
  );

const FORMS =
  "write a URL such as redis://127.0.0.1:6379/0, { sentinels: [host:port], name } for a Sentinel group, or { cluster: [host:port, ...] } for a Cluster";

/** The schema for the form an object value takes, or an issue when it mixes forms. */
function objectForm(value: object, ctx: z.RefinementCtx): z.ZodType | undefined {
  const has = (key: string) => Object.hasOwn(value, key);
  if (has("cluster") && (has("sentinels") || has("name"))) {
    ctx.addIssue({
      code: "custom",
      input: value,
      message:
        "give either cluster (a Redis Cluster) or sentinels and name (a Sentinel group), not both",
    });
    return undefined;
  }
  if (has("cluster") && has("db")) {
    ctx.addIssue({
      code: "custom",
      input: (value as Record<string, unknown>).db,
      path: ["db"],
      message:
        "a Redis Cluster has only database 0; remove db (store.keyPrefix keeps webknock's keys apart)",
    });
    return undefined;
  }
  if (!has("cluster") && !has("sentinels")) {
    ctx.addIssue({ code: "custom", input: value, message: FORMS });
    return undefined;
  }
  return has("cluster") ? clusterSchema : sentinelSchema;
}

/**
 * A URL, a Sentinel group or a Cluster, chosen by the value's shape, so an error speaks
 * about the form the user wrote (a plain union would only say "Invalid input").
 */
const redisTarget = z.unknown().transform((value, ctx) => {
  if (typeof value !== "string" && (typeof value !== "object" || value === null)) {
    ctx.addIssue({ code: "custom", input: value, message: FORMS });
    return z.NEVER;
  }
  const schema = typeof value === "string" ? redisUrl : objectForm(value, ctx);
  if (schema === undefined) return z.NEVER;
  const parsed = (
    schema as typeof redisUrl | typeof sentinelSchema | typeof clusterSchema
  ).safeParse(value, { reportInput: true });
  if (parsed.success) return parsed.data;
  for (const issue of parsed.error.issues) {
    ctx.addIssue({ code: "custom", input: issue.input, message: issue.message, path: issue.path });
  }
  return z.NEVER;
});

/**
 * Longest replica wait: the gateway gives each Redis command 300 ms
 * (FAIL_CLOSED_REDIS_OPTIONS), and WAIT must answer within it.
 */
export const MAX_REPLICA_ACK_MS = 250;

const ACK_FIX = `write { replicas: 1, timeout: 200ms } (timeout at most ${MAX_REPLICA_ACK_MS}ms), or false to grant without a replica's acknowledgement`;

/** `store.replicaAck`: `{ replicas, timeout }` or `false`; absent means the form's default. */
const replicaAckSchema = z.unknown().transform((value, ctx) => {
  if (value === false) return "off" as const;
  const parsed = z
    .strictObject(
      {
        replicas: intIn(1, 16, `write a number of replicas from 1 to 16; ${ACK_FIX}`).default(1),
        timeout: z
          .unknown()
          .transform((value, ctx) => {
            const ms = parseDuration(value);
            if (ms !== undefined && ms <= MAX_REPLICA_ACK_MS) return ms;
            ctx.addIssue({ code: "custom", input: value, message: ACK_FIX });
            return z.NEVER;
          })
          .default(200),
      },
      { error: ACK_FIX },
    )
    .safeParse(value, { reportInput: true });
  if (parsed.success) return { replicas: parsed.data.replicas, timeoutMs: parsed.data.timeout };
  for (const issue of parsed.error.issues) {
    ctx.addIssue({ code: "custom", input: issue.input, message: issue.message, path: issue.path });
  }
  return z.NEVER;
});

/** The store section; the agent's config takes the same but replicaAck (it claims nothing). */
export const storeSchema = z.strictObject({
  redis: redisTarget.optional(),
  keyPrefix: z
    .string("write a short prefix such as wk:")
    .max(32, "write a prefix of at most 32 characters, such as wk:")
    .refine(
      (prefix) => !/[{}]/.test(prefix),
      "write a prefix without { or }: webknock's keys carry their own Cluster hash tags, such as wk:",
    )
    .default(DEFAULTS.keyPrefix),
  replicaAck: replicaAckSchema.optional(),
});
