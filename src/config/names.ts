/**
 * The one home of every name and path pattern: the config schema, the firewall's last
 * check, the admin API's routes, `webknock user add` and the knock client all import
 * these, so a name one part accepts is never refused by another.
 */

/** Door names: short, lower case, safe in URLs, log lines and Redis keys. */
export const DOOR_NAME = /^[a-z0-9_-]{1,32}$/;
/** The fix for a bad door name. */
export const DOOR_NAME_FIX = "name doors with 1-32 of a-z, 0-9, _ or -";

/** User names: as door names, plus '.', up to 64 (the otpauth label). */
export const USER_NAME = /^[a-z0-9_.-]{1,64}$/;
/** The fix for a bad user name. */
export const USER_NAME_FIX = "name users with 1-64 of a-z, 0-9, _, . or -";

/** Kernel object names: iptables allows 28 chars; keep them plain so they never need quoting. */
export const KERNEL_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,19}$/;
/** The fix for a bad chain, set or table name. */
export const KERNEL_NAME_FIX = "write a letter, then letters, digits, _ or -, at most 20 in all";

/**
 * A knock path: exactly one leading '/', RFC 3986 path characters only (no '\', which a
 * URL parser reads as '/'), no query or fragment, no empty, '.' or '..' segment.
 */
const KNOCK_PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/;
/** Longest knock path; a real asset path is far shorter. */
export const MAX_KNOCK_PATH_CHARS = 200;
/** The fix for a bad knock path. */
export const KNOCK_PATH_FIX =
  "write an absolute path such as /img/a81f3c.png: one leading /, no query, fragment, '.', '..' or '//', at most 200 characters";

/** True when `path` is a knock path the gateway accepts and a client may send. */
export function isKnockPath(path: string): boolean {
  return (
    path.length <= MAX_KNOCK_PATH_CHARS &&
    KNOCK_PATH.test(path) &&
    !path.split("/").some((segment) => segment === "." || segment === "..")
  );
}
