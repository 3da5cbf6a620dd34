import type { IncomingMessage, ServerResponse } from "node:http";
import express from "express";

/**
 * Bodies carry a 22-character challenge, a user name and six digits, or a passkey
 * assertion (about 1.5 KB of JSON, up to twice that URL-encoded): 8 KB is plenty.
 */
const BODY_LIMIT = "8kb";

/** A connect-style middleware on plain node:http objects, as body-parser's are. */
type BodyParser = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Form and JSON bodies, as body-parser reads them: bounded, charset-checked, inflated
 * (gzip, deflate, br) within the same limit. Each sets `req.body` when its type matches.
 */
const PARSERS: readonly BodyParser[] = [
  express.urlencoded({ extended: false, limit: BODY_LIMIT, parameterLimit: 10 }),
  express.json({ limit: BODY_LIMIT, strict: true }),
];

/**
 * Reads a form or JSON body within BODY_LIMIT; an empty object when it is neither. Rejects
 * with the parser's 4xx error (too large, malformed), which the caller answers as a stranger.
 */
export async function readBody(
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Record<string, unknown>> {
  const parsed = req as IncomingMessage & { body?: unknown };
  for (const parse of PARSERS) {
    await new Promise<void>((resolve, reject) => {
      parse(req, res, (error) => {
        if (error === undefined || error === null) resolve();
        else reject(error instanceof Error ? error : new Error("the body parser failed"));
      });
    });
  }
  return (typeof parsed.body === "object" && parsed.body !== null ? parsed.body : {}) as Record<
    string,
    unknown
  >;
}
