import express, { type NextFunction, type Request, type Response } from "express";
import helmet from "helmet";
import type { Clock } from "../clock.js";
import { DOOR_NAME } from "../config/names.js";
import { FirewallError, StoreUnavailableError } from "../errors.js";
import type { FirewallAdapter } from "../firewall/types.js";
import type { GrantManager } from "../knock/grants.js";
import type { Logger } from "../log.js";
import { canonicalIp } from "../net/ip.js";
import { BAN_PAGE_MAX, type GrantRecord, type KnockStore } from "../store/types.js";
import { encodeCursor, readBanPage } from "./ban-query.js";
import { requireBearer } from "./auth.js";
import type { GatewayMetrics } from "./metrics.js";
import type { AgentStatus } from "../fleet/status.js";
import type { ReloadOutcome } from "../reload/live.js";

/** Everything the admin API needs, injected. */
export interface AdminAppDeps {
  /** The bearer token, or a getter for the one in force (a reload may rotate it). */
  readonly token: string | (() => string);
  readonly store: KnockStore;
  readonly grants: GrantManager;
  readonly firewall: FirewallAdapter;
  readonly metrics: GatewayMetrics;
  readonly now: Clock;
  readonly log: Logger;
  /** The fleet's agents (src/fleet/status.ts); absent when no door names an agent's host. */
  readonly agents?: () => Promise<AgentStatus[]>;
  /** Re-reads the config, secrets and certificates (src/reload); absent: POST /reload is a 404. */
  readonly reload?: () => Promise<ReloadOutcome>;
}

/** A grant as the API shows it. */
export interface GrantView {
  readonly door: string;
  readonly ip: string;
  readonly user: string;
  readonly ports: string[];
  readonly grantedAt: string;
  readonly expiresAt: string;
  readonly remainingSeconds: number;
}

/**
 * The admin API: list and revoke grants, list and lift bans, health and Prometheus
 * metrics. Every route needs the bearer token; bad input is a 400, unknown ids a 404.
 */
export function createAdminApp(deps: AdminAppDeps): express.Express {
  const { store, grants, firewall, metrics, now, log } = deps;
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", false);
  app.use(helmet());
  app.use((_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    next();
  });
  app.use(requireBearer(deps.token));

  app.get("/grants", async (_req, res) => {
    const at = now();
    const live = (await store.listGrants()).filter((grant) => grant.expiresAt > at);
    // Grants for agents' hosts also say which hosts confirmed them (one read, no wait).
    const views = await Promise.all(
      live.map(async (grant) =>
        grant.hosts === undefined
          ? grantView(grant, at)
          : { ...grantView(grant, at), hosts: await grants.hostStates(grant, 0) },
      ),
    );
    res.json({ grants: views });
  });

  app.delete("/grants/:door/:ip", async (req, res) => {
    const door = req.params.door;
    const ip = canonicalIp(req.params.ip);
    if (!DOOR_NAME.test(door) || ip === undefined) {
      res.status(400).json({
        error: "bad-request",
        message: "Write DELETE /grants/DOOR/IP with a door name and an IPv4 or IPv6 address.",
      });
      return;
    }
    const revoked = await grants.revoke(door, ip);
    if (revoked === undefined) {
      res.status(404).json({ error: "not-found", message: `No grant for ${ip} on door ${door}.` });
      return;
    }
    log.info(
      { event: "revoke", door, ip, user: revoked.user, by: "admin-api" },
      "grant revoked by an operator",
    );
    res.json({ revoked: grantView(revoked, now()) });
  });

  app.get("/agents", async (_req, res) => {
    const at = now();
    const agents = (await deps.agents?.()) ?? [];
    res.json({
      agents: agents.map((agent) => ({
        ...agent,
        heartbeatAt:
          agent.heartbeatAt === undefined ? null : new Date(agent.heartbeatAt).toISOString(),
        secondsSinceHeartbeat:
          agent.heartbeatAt === undefined ? null : Math.round((at - agent.heartbeatAt) / 1000),
      })),
    });
  });

  app.get("/bans", async (req, res) => {
    const page = readBanPage(req.originalUrl);
    if (page === undefined) {
      res.status(400).json({
        error: "bad-request",
        message: `Write GET /bans?limit=N&cursor=C with N from 1 to ${BAN_PAGE_MAX} and C the nextCursor of the previous page.`,
      });
      return;
    }
    const at = now();
    const { bans, next } = await store.listBans(page);
    res.json({
      bans: bans.map((ban) => ({
        ip: ban.ip,
        until: new Date(ban.until).toISOString(),
        remainingSeconds: Math.max(0, Math.ceil((ban.until - at) / 1000)),
        reason: ban.reason,
      })),
      nextCursor: next === undefined ? null : encodeCursor(next),
    });
  });

  app.delete("/bans/:ip", async (req, res) => {
    const ip = canonicalIp(req.params.ip);
    if (ip === undefined) {
      res.status(400).json({
        error: "bad-request",
        message:
          "Write DELETE /bans/IP with an IPv4 or IPv6 address; a ban on its prefix is lifted too.",
      });
      return;
    }
    if (!(await store.unban(ip))) {
      res.status(404).json({ error: "not-found", message: `${ip} is not banned.` });
      return;
    }
    log.info({ event: "unban", ip, by: "admin-api" }, "ban lifted by an operator");
    res.json({ unbanned: ip });
  });

  app.post("/reload", async (_req, res) => {
    if (deps.reload === undefined) {
      res.status(404).json({ error: "not-found", message: "This gateway cannot reload." });
      return;
    }
    const outcome = await deps.reload();
    if (outcome.ok) {
      res.json({ reloaded: true, changes: outcome.changes, warnings: outcome.warnings });
      return;
    }
    // 409: the request was fine, the file was not; the gateway keeps its old config.
    res.status(409).json({
      error: "refused",
      message: "The reload was refused; the gateway keeps running on its old config.",
      problems: outcome.problems,
    });
  });

  app.get("/health", async (_req, res) => {
    try {
      await store.ping();
      res.json({ status: "ok", store: store.kind, firewall: firewall.name });
    } catch {
      res.status(503).json({ status: "unavailable", store: store.kind, firewall: firewall.name });
    }
  });

  app.get("/metrics", async (_req, res) => {
    const text = await metrics.registry.metrics();
    res.type(metrics.registry.contentType).send(text);
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json({
      error: "not-found",
      message:
        "Endpoints: GET /grants, DELETE /grants/DOOR/IP, GET /bans, DELETE /bans/IP, POST /reload, GET /health, GET /metrics.",
    });
  });

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof StoreUnavailableError) {
      res.status(503).json({ error: "unavailable", message: "The state store is unavailable." });
      return;
    }
    if (error instanceof FirewallError) {
      log.error({ event: "admin-error", err: error }, "firewall failed during an admin request");
      res.status(502).json({ error: "firewall", message: error.message });
      return;
    }
    const status = (error as { status?: unknown } | null)?.status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      res.status(status).json({ error: "bad-request" });
      return;
    }
    log.error({ event: "admin-error", err: error }, "unexpected admin API error");
    res.status(500).json({ error: "internal" });
  });
  return app;
}

/** The API's view of a grant at `at`. */
export function grantView(grant: GrantRecord, at: number): GrantView {
  return {
    door: grant.door,
    ip: grant.ip,
    user: grant.user,
    ports: grant.ports.map((p) => `${p.proto}/${p.port}`),
    grantedAt: new Date(grant.grantedAt).toISOString(),
    expiresAt: new Date(grant.expiresAt).toISOString(),
    remainingSeconds: Math.max(0, Math.ceil((grant.expiresAt - at) / 1000)),
  };
}
