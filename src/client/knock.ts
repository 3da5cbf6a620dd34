import { systemClock, type Clock } from "../clock.js";
import { isKnockPath, KNOCK_PATH_FIX } from "../config/names.js";
import { WebknockError } from "../errors.js";
import { clientWindow, windowPaths } from "../sequence/derive.js";
import type { ParsedResponse } from "./http-reader.js";
import { TRANSPORT, TransportError } from "./http.js";
import { PipelinedConnection, type PipelinedRequest } from "./pipeline.js";

/** What a successful knock opened, exactly as the gateway reports it. */
export interface KnockGrant {
  readonly door: string;
  readonly ip: string;
  readonly ports: readonly string[];
  /** Seconds the ports stay open from the grant. */
  readonly openFor: number;
  /** ISO 8601 time at which the ports close. */
  readonly expiresAt: string;
  /** How to close the grant early: POST `{"close": token}` to `url` (a path on the gateway). */
  readonly close?: { readonly url: string; readonly token: string };
}

/**
 * Why a knock failed: `denied` (the gateway refused the code or user), `no-challenge`
 * (the sequence was wrong or too slow, or this source is not allowed), `unreachable`,
 * `tls` (certificate not trusted), `unavailable` (the gateway failed closed, 503),
 * `protocol` (an answer that is not the gateway's), `invalid-request` (a URL or path that
 * would not stay on the gateway's origin; refused before anything is sent), `not-closed`
 * (a close the gateway answered with its decoy: nothing was closed).
 */
export type KnockFailure =
  | "denied"
  | "no-challenge"
  | "unreachable"
  | "tls"
  | "unavailable"
  | "protocol"
  | "invalid-request"
  | "not-closed";

/** Stable code and fix per failure; scripts match on `code` (or `failure`). */
const FAILURES: Readonly<Record<KnockFailure, { code: string; fix: string }>> = {
  denied: {
    code: "ERR_KNOCK_DENIED",
    fix: "Check the user name and secret, wait for the next code, or ask the operator whether the user is locked out or not on this door.",
  },
  "no-challenge": {
    code: "ERR_KNOCK_NO_CHALLENGE",
    fix: "Check the sequence, walk it within the door's sequenceTimeout, and knock from an allowed address.",
  },
  unreachable: { code: "ERR_KNOCK_UNREACHABLE", fix: TRANSPORT.unreachable.fix },
  tls: { code: "ERR_KNOCK_TLS", fix: TRANSPORT.tls.fix },
  unavailable: {
    code: "ERR_KNOCK_UNAVAILABLE",
    fix: "Try again later; the operator should check the gateway's store (Redis).",
  },
  protocol: {
    code: "ERR_KNOCK_PROTOCOL",
    fix: "Check that the URL points at a webknock gateway.",
  },
  "invalid-request": {
    code: "ERR_KNOCK_INVALID_REQUEST",
    fix: "Fix the URL or the sequence paths; nothing was sent.",
  },
  "not-closed": {
    code: "ERR_CLOSE_REFUSED",
    fix: "Close from the address that knocked, with the token of the latest knock (a re-knock replaces it), while the grant is live; an expired grant is closed already.",
  },
};

/** A knock that did not open anything; `failure` and `code` are stable, `message` a sentence. */
export class KnockError extends WebknockError {
  constructor(
    readonly failure: KnockFailure,
    message: string,
    options?: ErrorOptions & { readonly fix?: string | undefined },
  ) {
    super(FAILURES[failure].code, message, {
      ...options,
      fix: options?.fix ?? FAILURES[failure].fix,
    });
  }
}

/**
 * A rotating door as its client knows it: the door's key and schedule. The paths are
 * derived when the knock starts, with the gateway's own derivation (src/sequence/derive.ts).
 */
export interface RotatingSequence {
  /** The door's sequence key (the bytes of its key file). */
  readonly key: Uint8Array;
  /** The door's window length. */
  readonly rotateMs: number;
  /** Paths per knock. */
  readonly steps: number;
}

/** One knock: where, which paths, who, and the code (or how to get it when it is needed). */
export interface KnockRequest {
  /** Gateway base URL: http(s)://host[:port], IPv6 in brackets. Its path is ignored. */
  readonly url: string;
  /** The door's paths in order (each starts with "/"), or a rotating door's key and schedule. */
  readonly sequence: readonly string[] | RotatingSequence;
  readonly user: string;
  /**
   * A six-digit code, or a function computing (or asking for) one, called once before
   * the first request: a person typing it never holds a half-walked sequence open.
   */
  readonly code: string | (() => Promise<string>);
  /** Skip certificate verification (self-signed gateways). */
  readonly insecure?: boolean;
  /** Per-request timeout; 10 s by default. */
  readonly timeoutMs?: number;
  /** The clock a rotating sequence's window is read from; the system clock by default. */
  readonly now?: Clock;
  /** An HTTP proxy to CONNECT through (see proxyFor); direct by default. */
  readonly proxy?: URL | undefined;
}

/** The paths to walk now: the static list, or the rotating door's window for this moment. */
export function currentSequence(
  sequence: readonly string[] | RotatingSequence,
  now: Clock = systemClock,
): readonly string[] {
  if (!("key" in sequence)) return sequence;
  return windowPaths(sequence.key, clientWindow(now(), sequence.rotateMs), sequence.steps);
}

/** A request is a step, the challenge or the redemption; each should answer in well under this. */
export const DEFAULT_TIMEOUT_MS = 10_000;
const JSON_HEADERS = { accept: "application/json" } as const;

/**
 * Walks the sequence and redeems the challenge over the JSON API, on one keep-alive
 * connection: every GET of the sequence goes out in one write (pipelined), so the walk
 * costs one round trip whatever its length, then the POST with the code costs one more.
 * Resolves with the grant or rejects with a KnockError.
 */
export async function knock(request: KnockRequest): Promise<KnockGrant> {
  const base = gatewayUrl(request.url);
  // Every URL is resolved and checked before the first packet: a knock never goes half
  // way and then on to another host with the challenge, user and code.
  const sequence = currentSequence(request.sequence, request.now);
  const steps = sequence.map((path) => stepUrl(base, path));
  const last = steps.at(-1);
  if (last === undefined) throw new KnockError("protocol", "The sequence is empty.");
  const options = {
    insecure: request.insecure,
    timeoutMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    proxy: request.proxy,
  };
  const code = typeof request.code === "string" ? request.code : await request.code();
  let connection = await transport(() => PipelinedConnection.open(base, options));
  try {
    const answers = await transport(() =>
      connection.send(steps.map((url) => ({ method: "GET", url, headers: JSON_HEADERS }))),
    );
    if (answers.some((res) => res.status === 503)) throw unavailable();
    const res = answers.at(-1);
    const offered = res?.status === 200 ? parseJson(res, "challenge").challenge : undefined;
    if (typeof offered !== "string") {
      throw new KnockError(
        "no-challenge",
        `${last.pathname} answered ${res?.status ?? "nothing"} without a challenge: the sequence is wrong, was walked too slowly, or this source address may not use the door.${"key" in request.sequence ? " For a rotating door, check that key, rotate and steps match the gateway's and that both clocks are right." : ""}`,
      );
    }
    const post: PipelinedRequest = {
      method: "POST",
      url: last,
      headers: { ...JSON_HEADERS, "content-type": "application/json" },
      body: JSON.stringify({ challenge: offered, user: request.user, code }),
    };
    // A gateway (or a proxy before it) may close after the GETs: the challenge is bound to
    // the address, not the connection, so a new connection redeems it just as well.
    if (!connection.reusable) {
      connection.close();
      connection = await transport(() => PipelinedConnection.open(base, options));
    }
    const [answer] = await transport(() => connection.send([post]));
    return redeemed(answer, request.user);
  } finally {
    connection.close();
  }
}

/** The grant in the answer to the POST, or the KnockError it stands for. */
function redeemed(res: ParsedResponse | undefined, user: string): KnockGrant {
  const status = res?.status ?? 0;
  if (res !== undefined && status === 200) {
    const granted = parseJson(res, "granted").granted;
    if (isGrant(granted)) return granted;
    throw new KnockError("protocol", "The gateway's answer has no usable grant.");
  }
  if (status === 403)
    throw new KnockError(
      "denied",
      `Denied: the gateway refused user ${JSON.stringify(user)} with that code (wrong code or secret, code already used, user not allowed on this door, or locked out).`,
    );
  if (status === 503) throw unavailable();
  if (status === 404)
    throw new KnockError(
      "no-challenge",
      "The challenge expired or was already used before the code arrived; knock again.",
    );
  throw new KnockError("protocol", `Unexpected answer ${status} to the code.`);
}

/** The gateway's base URL: http or https, anything else refused. */
export function gatewayUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KnockError(
      "invalid-request",
      `${JSON.stringify(text)} is not a URL; write http(s)://host[:port], IPv6 as http://[2001:db8::1]:8080.`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new KnockError(
      "invalid-request",
      `The gateway URL must start with http:// or https://; got ${JSON.stringify(text)}.`,
    );
  }
  return url;
}

/**
 * A step's URL on the gateway's origin. Refused unless the path is a knock path (exactly
 * one leading '/', no backslash, query, fragment or dot segment) and resolves, unchanged, on
 * the gateway's own origin: `//evil.example/b` would otherwise send the code elsewhere.
 */
export function stepUrl(base: URL, path: string): URL {
  const url = isKnockPath(path) ? new URL(path, base.origin) : undefined;
  if (url?.origin !== base.origin || url.pathname !== path) {
    throw new KnockError(
      "invalid-request",
      `Refusing the sequence path ${JSON.stringify(path)}: it would not stay on ${base.origin}; ${KNOCK_PATH_FIX}.`,
    );
  }
  return url;
}

/** Runs a transport step; its TransportError becomes the KnockError of the same failure. */
export async function transport<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    if (error instanceof TransportError)
      throw new KnockError(error.failure, error.message, { cause: error, fix: error.fix });
    throw error;
  }
}

export function parseJson(res: ParsedResponse, key: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(res.body.toString("utf8"));
    if (typeof value === "object" && value !== null && key in value)
      return value as Record<string, unknown>;
  } catch {
    // Fall through: not JSON at all.
  }
  throw new KnockError(
    "protocol",
    `Expected JSON with "${key}" but got ${res.status} ${res.headers.get("content-type") ?? "(no type)"}; is this URL a webknock gateway?`,
  );
}

function isGrant(value: unknown): value is KnockGrant {
  const g = value as Partial<KnockGrant> | null;
  return (
    typeof g === "object" &&
    g !== null &&
    typeof g.door === "string" &&
    typeof g.ip === "string" &&
    Array.isArray(g.ports) &&
    typeof g.openFor === "number" &&
    typeof g.expiresAt === "string"
  );
}

/** The gateway failed closed (503). */
export function unavailable(): KnockError {
  return new KnockError(
    "unavailable",
    "The gateway is up but unavailable (503): its state store is down, so it opens nothing.",
  );
}
