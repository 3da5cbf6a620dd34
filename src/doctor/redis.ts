import type { RedisTarget } from "../config/types.js";
import type { Check, DoctorContext, Finding } from "./types.js";

/**
 * Only `noeviction` is safe. Every webknock key carries a TTL (progress, challenges,
 * lockouts, bans, grants), so the `volatile-*` policies may evict them just as the
 * `allkeys-*` ones do: a lockout or a scanner ban would vanish early under memory
 * pressure. With `noeviction` a full Redis refuses writes and webknock fails closed.
 */
export const SAFE_POLICY = "noeviction";

/** Redis is reachable, persists to disk, and will not evict webknock's keys. */
export const redisCheck: Check = {
  name: "redis",
  async run(ctx) {
    const target = ctx.config.store.redis;
    if (target === undefined) {
      return [
        {
          severity: "info",
          summary:
            "No store.redis: the in-memory store keeps grants' bookkeeping, lockouts and bans in this process only; a restart forgets them.",
        },
      ];
    }
    const probe = ctx.connectRedis(target);
    try {
      return await inspect(probe, describeTarget(target));
    } finally {
      await probe.close();
    }
  },
};

/** Where Redis is, for messages: a URL without its password, the Sentinel group or the Cluster. */
export function describeTarget(target: RedisTarget): string {
  if (typeof target === "string") return redactUrl(target);
  const nodes = (list: readonly { host: string; port: number }[]) =>
    list.map(({ host, port }) => `${host}:${String(port)}`).join(", ");
  if ("cluster" in target) return `the Cluster of ${nodes(target.cluster)}`;
  return `the master of Sentinel group ${target.name} (via ${nodes(target.sentinels)})`;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

async function inspect(probe: ReturnType<DoctorContext["connectRedis"]>, where: string) {
  try {
    await probe.ping();
  } catch (error) {
    return [
      {
        severity: "problem",
        summary: `Redis at ${where} does not answer (${(error as Error).message}); the gateway fails closed and grants nobody.`,
        fix: "Start Redis (systemctl start redis-server, or docker compose up -d redis) or fix store.redis.",
      } satisfies Finding,
    ];
  }
  const findings: Finding[] = [];
  const persistence = await probe.info("persistence");
  const save = await probe.configGet("save");
  const aof = persistence.get("aof_enabled") === "1";
  const rdb = save !== undefined && save.trim() !== "";
  if (!aof && !rdb) {
    findings.push({
      severity: "problem",
      summary: `Redis at ${where} has persistence off (appendonly no, save ""): a Redis restart forgets lockouts, bans and the grants the sweeper must close.`,
      fix: "Turn on the append-only file: `redis-cli CONFIG SET appendonly yes` and `appendonly yes` in redis.conf (compose.yaml does this).",
    });
  } else {
    findings.push({
      severity: "ok",
      summary: `Redis at ${where} answers and persists (${[aof ? "AOF" : "", rdb ? `RDB save ${save}` : ""].filter(Boolean).join(", ")}).`,
    });
  }
  const policy = await probe.configGet("maxmemory-policy");
  const maxmemory = await probe.configGet("maxmemory");
  if (policy === undefined) {
    findings.push({
      severity: "warning",
      summary: `Cannot read maxmemory-policy of Redis at ${where} (CONFIG is refused or renamed).`,
      fix: `Make sure redis.conf says \`maxmemory-policy ${SAFE_POLICY}\`.`,
    });
  } else if (policy !== SAFE_POLICY) {
    const limited = maxmemory !== undefined && maxmemory !== "0";
    findings.push({
      severity: limited ? "problem" : "warning",
      summary: `Redis at ${where} has maxmemory-policy ${policy}${limited ? ` with maxmemory ${maxmemory}` : " (no maxmemory yet)"}: every webknock key has a TTL, so it can evict lockouts and bans early.`,
      fix: `\`redis-cli CONFIG SET maxmemory-policy ${SAFE_POLICY}\` and the same in redis.conf; a full Redis then refuses writes and webknock fails closed.`,
    });
  }
  return findings;
}
