import type { Clock } from "../clock.js";
import {
  currentSequence,
  DEFAULT_TIMEOUT_MS,
  gatewayUrl,
  KnockError,
  parseJson,
  stepUrl,
  transport,
  unavailable,
  type RotatingSequence,
} from "./knock.js";
import { PipelinedConnection } from "./pipeline.js";

/** A close token as the gateway gives it out: base64url, 43 characters today. */
export const CLOSE_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;

/** Closing one's own grant: the door (its paths, to find the last) and the grant's token. */
export interface CloseRequest {
  /** Gateway base URL, as for a knock. */
  readonly url: string;
  /** The door's paths (the close goes to the last), or a rotating door's key and schedule. */
  readonly sequence: readonly string[] | RotatingSequence;
  /** The close token the knock's result carried. */
  readonly token: string;
  readonly insecure?: boolean;
  readonly timeoutMs?: number;
  readonly now?: Clock;
  /** An HTTP proxy to CONNECT through (see proxyFor), as for a knock; direct by default. */
  readonly proxy?: URL | undefined;
}

/** What the gateway closed. */
export interface ClosedGrant {
  readonly door: string;
  readonly ip: string;
  readonly ports: readonly string[];
}

/**
 * Closes the caller's own grant: POSTs `{"close": token}` to the door's last step (for a
 * rotating door, its path in the current window). Resolves with what closed; rejects
 * with a KnockError: `not-closed` when the gateway answered with its decoy (wrong
 * address or token, grant expired or already closed: it does not say which).
 */
export async function closeGrant(request: CloseRequest): Promise<ClosedGrant> {
  const base = gatewayUrl(request.url);
  const last = currentSequence(request.sequence, request.now).at(-1);
  if (last === undefined) throw new KnockError("protocol", "The sequence is empty.");
  if (!CLOSE_TOKEN.test(request.token))
    throw new KnockError("invalid-request", "The close token is not one the gateway gives out.");
  const url = stepUrl(base, last);
  const connection = await transport(() =>
    PipelinedConnection.open(base, {
      insecure: request.insecure,
      timeoutMs: request.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      proxy: request.proxy,
    }),
  );
  try {
    const [res] = await transport(() =>
      connection.send([
        {
          method: "POST",
          url,
          headers: { accept: "application/json", "content-type": "application/json" },
          body: JSON.stringify({ close: request.token }),
        },
      ]),
    );
    const status = res?.status ?? 0;
    if (res !== undefined && status === 200) {
      const closed = parseJson(res, "closed").closed;
      if (isClosed(closed)) return closed;
      throw new KnockError("protocol", "The gateway's answer has no usable `closed`.");
    }
    if (status === 503) throw unavailable();
    if (status === 404)
      throw new KnockError(
        "not-closed",
        `${url.pathname} answered 404: nothing was closed (another address than the knock's, a token that is not the latest knock's, or a grant that expired or was closed already).`,
      );
    throw new KnockError("protocol", `Unexpected answer ${status} to the close.`);
  } finally {
    connection.close();
  }
}

function isClosed(value: unknown): value is ClosedGrant {
  const c = value as Partial<ClosedGrant> | null;
  return (
    typeof c === "object" &&
    c !== null &&
    typeof c.door === "string" &&
    typeof c.ip === "string" &&
    Array.isArray(c.ports)
  );
}
