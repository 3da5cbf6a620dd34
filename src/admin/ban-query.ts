import { BAN_PAGE_DEFAULT, BAN_PAGE_MAX, type BanCursor } from "../store/types.js";

/** Longest cursor accepted: an expiry and an IPv6 prefix, base64url-encoded, fit easily. */
const MAX_CURSOR_CHARS = 200;

/** The opaque `nextCursor` of a page of bans: base64url of `[until, ip]`. */
export function encodeCursor(cursor: BanCursor): string {
  return Buffer.from(JSON.stringify([cursor.until, cursor.ip])).toString("base64url");
}

/** The cursor a client handed back, or undefined if it is not one we wrote. */
export function decodeCursor(text: string): BanCursor | undefined {
  if (text.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(text)) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [until, ip] = value as unknown[];
    if (typeof until !== "number" || !Number.isSafeInteger(until) || typeof ip !== "string")
      return undefined;
    return { until, ip };
  } catch {
    return undefined;
  }
}

/**
 * Reads `?limit=&cursor=` from a request URL (the admin app has no query parser).
 * Undefined when either is malformed: the caller answers 400.
 */
export function readBanPage(url: string): { limit: number; cursor?: BanCursor } | undefined {
  const params = new URL(url, "http://admin").searchParams;
  const limitText = params.get("limit");
  const cursorText = params.get("cursor");
  let limit = BAN_PAGE_DEFAULT;
  if (limitText !== null && limitText !== "") {
    if (!/^\d{1,4}$/.test(limitText)) return undefined;
    limit = Number(limitText);
    if (limit < 1 || limit > BAN_PAGE_MAX) return undefined;
  }
  if (cursorText === null || cursorText === "") return { limit };
  const cursor = decodeCursor(cursorText);
  return cursor === undefined ? undefined : { limit, cursor };
}
