import type { DoorConfig, UserConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import {
  PasskeyFileError,
  readCredentials,
  updateCredentials,
  type StoredCredential,
} from "../passkey/credentials.js";
import { parseAssertion, verifyAssertion, type RelyingParty } from "../passkey/webauthn.js";
import type { AttemptLimiter } from "./types.js";

/** Why a passkey redemption was refused (logged, never shown). */
export type PasskeyDenyReason =
  | "malformed-passkey"
  | "unknown-passkey"
  | "bad-passkey"
  | "counter-regression"
  | "source-not-allowed"
  | "locked";

/** The outcome of a passkey at a live challenge: whose it was, and whether it opens. */
export type PasskeyCheck =
  | { readonly ok: true; readonly user: string }
  | { readonly ok: false; readonly reason: PasskeyDenyReason; readonly user?: string };

/** What checking a passkey needs from the engine. */
export interface PasskeyCheckDeps {
  /** server.rpId and server.origin. */
  readonly rp: RelyingParty;
  readonly users: ReadonlyMap<string, UserConfig>;
  readonly limiter: AttemptLimiter | undefined;
  readonly log: Logger;
  /** True when `ip` is inside the user's `sources` (or the user has none). */
  readonly inUserSources: (user: string, ip: string) => boolean;
}

/**
 * Checks a passkey assertion for a challenge already taken from the store (so `token` is
 * bound to this door and IP and can never be used again). The credential ID names its
 * owner among the door's passkey users (or only the user named, if one is); failures
 * count against the limiter exactly as wrong codes do: against the owner when the caller
 * is inside the owner's sources, and always against the IP.
 */
export async function checkPasskey(
  deps: PasskeyCheckDeps,
  door: DoorConfig,
  ip: string,
  token: string,
  input: { readonly passkey?: unknown; readonly user: unknown },
): Promise<PasskeyCheck> {
  const { limiter, log } = deps;
  const assertion = parseAssertion(input.passkey);
  if (assertion === undefined) return { ok: false, reason: "malformed-passkey" };
  const named = typeof input.user === "string" && input.user !== "" ? input.user : undefined;
  const candidates = door.users
    .filter((name) => named === undefined || name === named)
    .map((name) => deps.users.get(name))
    .filter((user): user is UserConfig => user?.passkeys !== undefined);
  const found = await findOwner(candidates, assertion.id, log);
  const outsider = found !== undefined && !deps.inUserSources(found.user.name, ip);
  const accountable = found === undefined || outsider ? undefined : found.user.name;
  const user = found?.user.name;
  if (limiter && !(await limiter.check(accountable, ip)))
    return { ok: false, reason: "locked", user };
  const fail = async (reason: PasskeyDenyReason): Promise<PasskeyCheck> => {
    await limiter?.fail(accountable, ip);
    return { ok: false, reason, user };
  };
  if (found === undefined) return fail("unknown-passkey");
  if (outsider) return fail("source-not-allowed");

  const outcome = await verifyAssertion(deps.rp, found.credential, token, assertion);
  if (!outcome.ok) {
    if (outcome.reason === "counter-regression")
      log.warn(
        {
          event: "passkey-counter-regression",
          ip,
          door: door.name,
          user,
          credential: assertion.id,
          detail: outcome.detail,
        },
        "a passkey's signature counter went backwards: a cloned authenticator or a replay; refused",
      );
    else
      log.info(
        { event: "passkey-refused", ip, door: door.name, user, detail: outcome.detail },
        "passkey assertion refused",
      );
    return fail(outcome.reason === "counter-regression" ? "counter-regression" : "bad-passkey");
  }
  // Recorded under the file's lock, checked again there: two assertions racing with the
  // same counter cannot both pass.
  const recorded = await updateCredentials(found.user.passkeys ?? "", (list) => {
    const index = list.findIndex((c) => c.id === assertion.id);
    const current = list[index];
    if (current === undefined) return { result: false };
    if ((outcome.counter > 0 || current.counter > 0) && outcome.counter <= current.counter)
      return { result: false };
    const next = [...list];
    next[index] = { ...current, counter: outcome.counter };
    return { next, result: true };
  });
  if (!recorded) return fail("counter-regression");
  return { ok: true, user: found.user.name };
}

/** The user among `candidates` whose passkey file holds the credential `id`. */
async function findOwner(
  candidates: readonly UserConfig[],
  id: string,
  log: Logger,
): Promise<{ user: UserConfig; credential: StoredCredential } | undefined> {
  for (const user of candidates) {
    let credentials: StoredCredential[];
    try {
      credentials = await readCredentials(user.passkeys ?? "");
    } catch (error) {
      // An unusable file opens nothing for that user (fail closed) and says why.
      if (!(error instanceof PasskeyFileError)) throw error;
      log.error(
        { event: "passkey-file", user: user.name, problem: error.message },
        "passkey file refused",
      );
      continue;
    }
    const credential = credentials.find((c) => c.id === id);
    if (credential !== undefined) return { user, credential };
  }
  return undefined;
}
