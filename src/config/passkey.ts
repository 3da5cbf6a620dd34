import { z } from "zod";
import { parseCredentials } from "../passkey/credentials.js";
import { text } from "./fields.js";
import type { ConfigSources } from "./sources.js";

/**
 * The passkey (WebAuthn) parts of the config: `users.NAME.passkeys`, `users.NAME.factors`,
 * `server.rpId` and `server.origin`, and the checks that span them.
 */

/** The ways a user may prove who they are at a door's challenge. */
export const FACTORS = ["totp", "passkey"] as const;
export type Factor = (typeof FACTORS)[number];

const FACTORS_FIX = "list totp, passkey or both, such as [totp, passkey]";

/** `users.NAME.factors`: at least one, each once. */
export const factorsField = z
  .array(z.enum(FACTORS, { error: FACTORS_FIX }), { error: FACTORS_FIX })
  .min(1, FACTORS_FIX)
  .refine((list) => new Set(list).size === list.length, "list each factor once");

/** `users.NAME.passkeys`: the credential file enrollment writes. */
export const passkeysField = text(
  "write the path of the user's passkey file, such as /etc/webknock/alice.passkeys",
);

const RP_ID_FIX =
  "write a lower-case host name without scheme or port, such as knock.example.net (an IP address cannot be an RP ID)";

/** `server.rpId`: the WebAuthn relying party ID, a host name (never an IP address). */
export const rpIdField = z
  .string("write the host name people open, such as knock.example.net")
  .regex(
    /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/,
    RP_ID_FIX,
  )
  .refine((host) => !/^[0-9.]+$/.test(host), RP_ID_FIX);

/** `server.origin`: scheme, host and port the browser shows, with no path. */
export const originField = z
  .string("write the URL people open, such as https://knock.example.net")
  .regex(
    /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/,
    "write scheme, host and optional port with no path or trailing /, such as https://knock.example.net or http://localhost:8080",
  );

/** What the user section says about factors, before the secret is resolved. */
interface UserFactorInput {
  readonly factors?: readonly Factor[] | undefined;
  readonly passkeys?: string | undefined;
  /** How many of secretFile, secretEnv, secret were given. */
  readonly secrets: number;
}

/**
 * The user's factors: as listed, or else TOTP when a secret is given (or nothing is) and
 * passkey when a passkey file is.
 */
export function userFactors(user: UserFactorInput): Factor[] {
  if (user.factors !== undefined) return [...user.factors];
  const factors: Factor[] = [];
  if (user.secrets > 0 || user.passkeys === undefined) factors.push("totp");
  if (user.passkeys !== undefined) factors.push("passkey");
  return factors;
}

/**
 * Why a user section's factors and their sources disagree, one sentence each: a factor
 * listed without its source, or a source of a factor not listed (a dead key).
 */
export function factorProblems(user: UserFactorInput): string[] {
  const factors = userFactors(user);
  const problems: string[] = [];
  if (user.secrets > 1) problems.push("give exactly one of secretFile, secretEnv or secret");
  if (factors.includes("totp") && user.secrets === 0)
    problems.push(
      user.factors === undefined
        ? "give exactly one of secretFile, secretEnv or secret (or passkeys, for a passkey-only user)"
        : "factors lists totp; give exactly one of secretFile, secretEnv or secret",
    );
  if (!factors.includes("totp") && user.secrets > 0)
    problems.push("a TOTP secret is given but factors does not list totp; add totp or remove it");
  if (factors.includes("passkey") && user.passkeys === undefined)
    problems.push(
      "factors lists passkey; set passkeys to the user's passkey file, such as /etc/webknock/alice.passkeys",
    );
  if (!factors.includes("passkey") && user.passkeys !== undefined)
    problems.push("passkeys is set but factors does not list passkey; add passkey or remove it");
  return problems;
}

/** The WebAuthn rule, said once: browsers run passkeys only in a secure context. */
const SECURE_CONTEXT =
  "browsers offer passkeys only in a secure context: an https:// origin, or http://localhost for tests";

/**
 * Checks `server.rpId` and `server.origin` once any user has a passkey file: both set, the
 * origin a secure context, and the RP ID the origin's host or a parent domain of it.
 */
export function checkPasskeyServer(
  server: { readonly rpId?: string | undefined; readonly origin?: string | undefined },
  passkeyUsers: readonly string[],
  problems: string[],
): void {
  if (passkeyUsers.length === 0) return;
  const who = `users ${passkeyUsers.join(", ")} use passkeys`;
  if (server.rpId === undefined)
    problems.push(
      `server.rpId: is required because ${who}; write the host name people open, such as knock.example.net`,
    );
  if (server.origin === undefined) {
    problems.push(
      `server.origin: is required because ${who}; write the URL people open, such as https://knock.example.net (${SECURE_CONTEXT})`,
    );
    return;
  }
  const url = new URL(server.origin);
  if (url.protocol !== "https:" && url.hostname !== "localhost")
    problems.push(
      `server.origin: got ${JSON.stringify(server.origin)}; ${SECURE_CONTEXT}. Serve HTTPS (server.listen[].tls or a TLS proxy) and write https://`,
    );
  const rpId = server.rpId;
  if (rpId !== undefined && url.hostname !== rpId && !url.hostname.endsWith(`.${rpId}`))
    problems.push(
      `server.rpId: got ${JSON.stringify(rpId)}, which is not the host of server.origin (${url.hostname}) or a parent domain of it; browsers refuse such a passkey. Write ${url.hostname}`,
    );
}

/**
 * Checks a passkey file at start-up: none yet is fine (enrollment creates it); one that
 * group or others may access, or that does not parse, is refused.
 */
export function checkPasskeyFile(
  key: string,
  path: string,
  sources: ConfigSources,
  problems: string[],
): void {
  let text: string;
  try {
    text = sources.readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    if (code !== "ENOENT")
      problems.push(`${key}: cannot read ${path} (${code}); fix the path or its permissions`);
    return;
  }
  let mode: number;
  try {
    mode = sources.fileMode?.(path) ?? 0o600;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    problems.push(`${key}: cannot read the permissions of ${path} (${code}); fix the path`);
    return;
  }
  if ((mode & 0o077) !== 0) {
    problems.push(
      `${key}: ${path} has mode 0${(mode & 0o777).toString(8)}, so group or others may read or change the passkeys; run chmod 600 ${path}`,
    );
    return;
  }
  try {
    parseCredentials(text);
  } catch (error) {
    problems.push(
      `${key}: ${path}: ${(error as Error).message}; restore it, or remove it and enroll again with 'webknock user passkey add'`,
    );
  }
}
