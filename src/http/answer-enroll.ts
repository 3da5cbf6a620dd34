import type { IncomingMessage, ServerResponse } from "node:http";
import type { UserConfig } from "../config/types.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { webauthnBrowserBundle } from "../passkey/browser-bundle.js";
import { MAX_CREDENTIALS, readCredentials, updateCredentials } from "../passkey/credentials.js";
import type { EnrollmentPaths } from "../passkey/enroll-paths.js";
import type { Enrollment } from "../passkey/enrollments.js";
import {
  creationOptions,
  parseRegistration,
  verifyRegistration,
  type RelyingParty,
} from "../passkey/webauthn.js";
import type { AnswerError } from "./answer-error.js";
import { readBody } from "./body.js";
import type { Respond } from "./respond.js";
import type { Stranger } from "./stranger.js";

/** What the enrollment pages need. */
export interface EnrollDeps {
  readonly paths: EnrollmentPaths;
  readonly rp: RelyingParty;
  readonly users: ReadonlyMap<string, UserConfig>;
  readonly now: Clock;
  readonly log: Logger;
}

/** Answers GET and POST of a live enrollment path (the edge found it with one lookup). */
export type EnrollHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  enrollment: Enrollment,
  ip: string,
) => void;

/**
 * GET shows the registration page; POST takes the enrollment from the store (once, on
 * any gateway), verifies the new passkey and appends it to the user's passkey file.
 * Whatever the POST's outcome the URL is spent: from then on it is the decoy.
 */
export function createAnswerEnroll(
  deps: EnrollDeps & { respond: Respond; stranger: Stranger; answerError: AnswerError },
): EnrollHandler {
  const { paths, rp, users, now, log, respond, stranger, answerError } = deps;
  const file = (e: Enrollment) => users.get(e.user)?.passkeys;
  const page = async (req: IncomingMessage, res: ServerResponse, e: Enrollment, ip: string) => {
    const path = file(e);
    if (path === undefined) {
      stranger.refuse(res);
      return;
    }
    const options = await creationOptions(rp, e, await readCredentials(path));
    log.info({ event: "passkey-enrollment-opened", ip, user: e.user }, "enrollment page shown");
    const expires = new Date(e.expiresAt).toISOString();
    respond(req, res, {
      status: 200,
      json: { user: e.user, expiresAt: expires, options },
      view: "enroll",
      title: "Add a passkey",
      values: {
        user: e.user,
        action: `/${e.token}`,
        options: JSON.stringify(options),
        expiresAtText: `${expires.slice(11, 19)} UTC`,
      },
      trusted: { webauthn: webauthnBrowserBundle() },
    });
  };
  const finish = async (req: IncomingMessage, res: ServerResponse, e: Enrollment, ip: string) => {
    const body = await readBody(req, res);
    const taken = await paths.take(e.token);
    const path = file(e);
    if (taken === undefined || path === undefined) {
      stranger.refuse(res);
      return;
    }
    const audit = { ip, user: e.user };
    const fail = (detail: string) => {
      log.warn({ event: "passkey-enrollment-failed", ...audit, detail }, "no passkey added");
      respond(req, res, {
        status: 403,
        json: { error: "denied" },
        view: "enrolled",
        title: "Not added",
        values: { outcome: "bad", message: "No passkey was added. Ask for a new link." },
      });
    };
    const response = parseRegistration(body.credential);
    if (response === undefined) {
      fail("malformed registration");
      return;
    }
    const verified = await verifyRegistration(rp, e.token, response, now());
    if (!verified.ok) {
      fail(verified.detail);
      return;
    }
    const { credential } = verified;
    const added = await updateCredentials(path, (list) => {
      if (list.some((c) => c.id === credential.id)) return { result: "already enrolled" };
      if (list.length >= MAX_CREDENTIALS) return { result: `already ${MAX_CREDENTIALS} passkeys` };
      return { next: [...list, credential], result: "added" };
    }).catch(
      (error: unknown) =>
        `cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)}); the gateway needs write access to its directory`,
    );
    if (added !== "added") {
      fail(added);
      return;
    }
    log.info(
      { event: "passkey-enrolled", ...audit, credential: credential.id, file: path },
      "passkey added",
    );
    respond(req, res, {
      status: 200,
      json: { enrolled: { user: e.user, id: credential.id } },
      view: "enrolled",
      title: "Passkey added",
      values: {
        outcome: "ok",
        message: `Passkey added for ${e.user}. On the knock page, tap "Use passkey".`,
      },
    });
  };
  return (req, res, enrollment, ip) => {
    const run = req.method === "POST" ? finish : page;
    run(req, res, enrollment, ip).catch((error: unknown) => {
      answerError(req, res, error, ip);
    });
  };
}
