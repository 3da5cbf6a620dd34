import { randomBytes } from "node:crypto";
import express, { type Request, type Response, type NextFunction } from "express";
import helmet from "helmet";
import type { KnockEngine, StepRef } from "../knock/engine.js";
import { StoreUnavailableError, FirewallError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ClientIpResolver } from "./client-ip.js";
import type { Decoy } from "./decoy.js";
import type { Views } from "./views.js";
import { STEP_FAILURE, type MaybeFailedStep } from "./step-fast-path.js";

/** Bodies carry a 22-character challenge, a user name and six digits: 4 KB is plenty. */
const BODY_LIMIT = "4kb";

/** Everything the knock app needs, injected. */
export interface KnockAppDeps {
  readonly engine: KnockEngine;
  readonly decoy: Decoy;
  readonly views: Views;
  readonly clientIp: ClientIpResolver;
  readonly log: Logger;
}

interface Locals {
  step: StepRef;
  ip: string;
  nonce: string;
}

/**
 * The Express app behind the fast decoy filter: it only ever sees step paths.
 * Anything it does not positively recognise gets the decoy, so the last step is
 * indistinguishable from noise to a client without a live challenge.
 */
export function createKnockApp(deps: KnockAppDeps): express.Express {
  const { engine, decoy, views, clientIp, log } = deps;
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("query parser", false);

  // Resolve the step and the client IP first; a miss is answered before any other work.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const step = engine.lookup(req.path);
    const ip = clientIp(req);
    if (step === undefined || ip === undefined) {
      decoy.send(res);
      return;
    }
    Object.assign(res.locals, {
      step,
      ip,
      nonce: randomBytes(16).toString("base64"),
    } satisfies Locals);
    // The fast path already tried this step and failed: report that, do not try again.
    const failure = (req as MaybeFailedStep)[STEP_FAILURE];
    next(failure);
  });
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          styleSrc: [(_req, res) => `'nonce-${(res as Response).locals.nonce as string}'`],
          scriptSrc: [(_req, res) => `'nonce-${(res as Response).locals.nonce as string}'`],
          formAction: ["'self'"],
          baseUri: ["'none'"],
          frameAncestors: ["'none'"],
        },
      },
      referrerPolicy: { policy: "no-referrer" },
    }),
  );
  app.use((_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    next();
  });

  app.get(/.*/, (req, res, next) => {
    // Express routes HEAD to GET; a HEAD is noise, and must neither advance nor reveal a step.
    if (req.method === "HEAD") {
      decoy.send(res);
      return;
    }
    const { step, ip } = res.locals as Locals;
    engine
      .step(step, ip)
      .then((result) => {
        if (result.kind === "decoy") {
          decoy.send(res);
          return;
        }
        if (wantsJson(req)) {
          res.status(200).json({
            door: result.door.name,
            challenge: result.token,
            expiresIn: result.expiresInSeconds,
          });
          return;
        }
        res
          .status(200)
          .type("html")
          .send(
            page(views, res, "challenge", "Enter your code", {
              action: req.path,
              challenge: result.token,
              expiresIn: result.expiresInSeconds,
            }),
          );
      })
      .catch(next);
  });

  const parseBody = [
    express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: 10 }),
    express.json({ limit: BODY_LIMIT, strict: true }),
  ];
  app.post(/.*/, parseBody, (req: Request, res: Response, next: NextFunction) => {
    const { step, ip } = res.locals as Locals;
    const body = (typeof req.body === "object" && req.body !== null ? req.body : {}) as Record<
      string,
      unknown
    >;
    engine
      .redeem(step, ip, { challenge: body.challenge, user: body.user, code: body.code })
      .then((result) => {
        switch (result.kind) {
          case "decoy":
            decoy.send(res);
            return;
          case "denied":
            if (wantsJson(req)) res.status(403).json({ error: "denied" });
            else
              res
                .status(403)
                .type("html")
                .send(page(views, res, "denied", "Not opened", {}));
            return;
          case "granted": {
            const { grant } = result;
            const granted = {
              door: grant.door,
              ip: grant.ip,
              ports: grant.ports.map((p) => `${p.proto}/${p.port}`),
              openFor: Math.round((grant.expiresAt - grant.grantedAt) / 1000),
              expiresAt: new Date(grant.expiresAt).toISOString(),
              hosts: result.hosts,
            };
            if (wantsJson(req)) {
              res.status(200).json({ granted });
              return;
            }
            res
              .status(200)
              .type("html")
              .send(
                page(views, res, "granted", "Open", {
                  ports: granted.ports.join(", "),
                  ip: granted.ip,
                  openFor: granted.openFor,
                  expiresAtIso: granted.expiresAt,
                  // Shown without JavaScript; the page's script swaps in the phone's local time.
                  expiresAtText: `${granted.expiresAt.slice(11, 19)} UTC`,
                }),
              );
          }
        }
      })
      .catch(next);
  });

  // Every other method (OPTIONS, PUT, DELETE...) on a step path is noise.
  app.use((_req: Request, res: Response) => {
    decoy.send(res);
  });

  // Body-parser errors (oversized, malformed) carry no live challenge: decoy. Outages: 503.
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof StoreUnavailableError || error instanceof FirewallError) {
      log.error(
        { event: "unavailable", err: error, ip: (res.locals as Partial<Locals>).ip },
        "failing closed",
      );
      if (wantsJson(req)) res.status(503).json({ error: "unavailable" });
      else
        res
          .status(503)
          .type("html")
          .send(page(views, res, "unavailable", "Unavailable", {}));
      return;
    }
    if (isClientError(error)) {
      decoy.send(res);
      return;
    }
    log.error({ err: error }, "unexpected error; answering with the decoy");
    decoy.send(res);
  });
  return app;
}

function page(
  views: Views,
  res: Response,
  name: Parameters<Views["render"]>[0],
  title: string,
  values: Record<string, string | number>,
): string {
  return views.render(name, { ...values, title, nonce: (res.locals as Locals).nonce });
}

/** JSON when the client asks for it (Accept: application/json); HTML otherwise, curl's default included. */
function wantsJson(req: Request): boolean {
  return req.accepts(["html", "json"]) === "json";
}

function isClientError(error: unknown): boolean {
  const status = (error as { status?: unknown } | null)?.status;
  return typeof status === "number" && status >= 400 && status < 500;
}
