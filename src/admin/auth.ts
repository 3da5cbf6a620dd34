import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

/**
 * Express middleware requiring `Authorization: Bearer <token>` (the token, or a getter for
 * the one in force). Both sides are hashed
 * first, so the comparison is constant-time and does not leak the token's length.
 */
export function requireBearer(token: string | (() => string)) {
  // A fixed token is hashed once; a getter (rotated by a reload) on every request.
  const fixed = typeof token === "string" ? digest(token) : undefined;
  const expected = () => fixed ?? digest((token as () => string)());
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = BEARER.exec(req.get("authorization") ?? "")?.[1];
    if (given !== undefined && timingSafeEqual(digest(given), expected())) {
      next();
      return;
    }
    res
      .status(401)
      .set("WWW-Authenticate", 'Bearer realm="webknock-admin"')
      .json({ error: "unauthorized", message: "Send Authorization: Bearer <admin token>." });
  };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
