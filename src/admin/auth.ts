import { createHash, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response } from "express";

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

/**
 * Express middleware requiring `Authorization: Bearer <token>`. Both sides are hashed
 * first, so the comparison is constant-time and does not leak the token's length.
 */
export function requireBearer(token: string) {
  const expected = digest(token);
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = BEARER.exec(req.get("authorization") ?? "")?.[1];
    if (given !== undefined && timingSafeEqual(digest(given), expected)) {
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
