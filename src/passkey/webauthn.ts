import { createHash } from "node:crypto";
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { isoBase64URL } from "@simplewebauthn/server/helpers";
import type { StoredCredential } from "./credentials.js";

/**
 * The WebAuthn ceremonies, on @simplewebauthn/server (a maintained implementation of the
 * spec's verification steps: client data, RP ID hash, flags, COSE signatures). Policy is
 * fixed here: user verification required, attestation none, discoverable credentials.
 */

/** Where the ceremonies run: the relying party ID and the page origin (server.rpId/origin). */
export interface RelyingParty {
  readonly rpId: string;
  readonly origin: string;
}

/** What the browser's authenticator gives back, as @simplewebauthn/browser encodes it. */
export type AssertionJson = AuthenticationResponseJSON;

/** Longest credential ID accepted (the spec allows 1023 bytes: 1364 base64url characters). */
const MAX_ID_CHARS = 1400;
/** How long the browser may wait for a person to register a passkey. */
const REGISTRATION_TIMEOUT_MS = 5 * 60_000;

/**
 * Options for `navigator.credentials.get`: the knock challenge token is the WebAuthn
 * challenge itself (its 16 random bytes), so the assertion is bound to exactly the
 * challenge the store holds for this door and IP. No allowCredentials: the person picks
 * a passkey (discoverable), and the gateway finds its owner by credential ID.
 */
export function requestOptions(
  rp: RelyingParty,
  token: string,
  timeoutMs: number,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  return generateAuthenticationOptions({
    rpID: rp.rpId,
    challenge: isoBase64URL.toBuffer(token),
    timeout: timeoutMs,
    userVerification: "required",
  });
}

/** A form field's JSON text or a JSON body's object, as an object; undefined otherwise. */
function jsonObject(value: unknown): Record<string, unknown> | undefined {
  let data: unknown = value;
  if (typeof value === "string") {
    try {
      data = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return typeof data === "object" && data !== null ? (data as Record<string, unknown>) : undefined;
}

/** An assertion from a form field (JSON text) or a JSON body (an object); undefined if malformed. */
export function parseAssertion(value: unknown): AssertionJson | undefined {
  const a = jsonObject(value);
  if (a === undefined) return undefined;
  const r = (typeof a.response === "object" && a.response !== null ? a.response : {}) as Record<
    string,
    unknown
  >;
  const b64 = (v: unknown) => typeof v === "string" && /^[A-Za-z0-9_-]+$/.test(v);
  const ok =
    b64(a.id) &&
    (a.id as string).length <= MAX_ID_CHARS &&
    a.rawId === a.id &&
    a.type === "public-key" &&
    b64(r.clientDataJSON) &&
    b64(r.authenticatorData) &&
    b64(r.signature) &&
    (r.userHandle === undefined || b64(r.userHandle));
  if (!ok) return undefined;
  return {
    id: a.id as string,
    rawId: a.rawId as string,
    type: "public-key",
    clientExtensionResults: {},
    response: {
      clientDataJSON: r.clientDataJSON as string,
      authenticatorData: r.authenticatorData as string,
      signature: r.signature as string,
      ...(r.userHandle === undefined ? {} : { userHandle: r.userHandle as string }),
    },
  };
}

/** Why an assertion failed, for the audit log; a person sees only "Not opened". */
export type AssertionOutcome =
  | { readonly ok: true; readonly counter: number }
  | {
      readonly ok: false;
      readonly reason: "bad-assertion" | "counter-regression";
      readonly detail: string;
    };

/**
 * Verifies an assertion against a stored credential: the challenge must be `token`, the
 * origin and RP ID the gateway's, the user verified, the signature valid. The counter
 * rule is applied here, not by the library, so a regression is told apart and logged: an
 * authenticator that counts (either value above 0) must show a higher count than stored.
 */
export async function verifyAssertion(
  rp: RelyingParty,
  credential: StoredCredential,
  token: string,
  assertion: AssertionJson,
): Promise<AssertionOutcome> {
  let counter: number;
  try {
    const result = await verifyAuthenticationResponse({
      response: assertion,
      expectedChallenge: token,
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      credential: {
        id: credential.id,
        publicKey: isoBase64URL.toBuffer(credential.publicKey),
        // 0: the library's own counter check is replaced by the one below.
        counter: 0,
      },
      requireUserVerification: true,
    });
    if (!result.verified) return { ok: false, reason: "bad-assertion", detail: "not verified" };
    counter = result.authenticationInfo.newCounter;
  } catch (error) {
    return { ok: false, reason: "bad-assertion", detail: why(error) };
  }
  if ((counter > 0 || credential.counter > 0) && counter <= credential.counter)
    return {
      ok: false,
      reason: "counter-regression",
      detail: `counter ${counter} is not above the stored ${credential.counter}`,
    };
  return { ok: true, counter };
}

/** The registration challenge of an enrollment: derived from its secret token, used once. */
function enrollmentChallenge(token: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createHash("sha256").update(`webknock-enroll:${token}`).digest());
}

/** A stable WebAuthn user handle per user name, so one authenticator keeps one passkey per user. */
function userHandle(user: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(
    createHash("sha256").update(`webknock-user:${user}`).digest().subarray(0, 16),
  );
}

/** Options for `navigator.credentials.create` on an enrollment page. */
export function creationOptions(
  rp: RelyingParty,
  enrollment: { readonly token: string; readonly user: string },
  existing: readonly StoredCredential[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: "webknock",
    rpID: rp.rpId,
    userName: enrollment.user,
    userID: userHandle(enrollment.user),
    challenge: enrollmentChallenge(enrollment.token),
    timeout: REGISTRATION_TIMEOUT_MS,
    attestationType: "none",
    excludeCredentials: existing.map((c) => ({ id: c.id, transports: [...c.transports] })),
    authenticatorSelection: { residentKey: "required", userVerification: "required" },
  });
}

/** A registration response from a form field or JSON body; undefined if malformed. */
export function parseRegistration(value: unknown): RegistrationResponseJSON | undefined {
  const a = jsonObject(value);
  if (a === undefined) return undefined;
  const r = a.response as Record<string, unknown> | undefined;
  const ok =
    typeof a.id === "string" &&
    a.id.length <= MAX_ID_CHARS &&
    a.type === "public-key" &&
    typeof r === "object" &&
    typeof r.clientDataJSON === "string" &&
    typeof r.attestationObject === "string";
  return ok ? (a as unknown as RegistrationResponseJSON) : undefined;
}

/**
 * Verifies a registration for an enrollment: its challenge, the origin and RP ID, user
 * verification. Returns the credential to store, or the reason it was refused.
 */
export async function verifyRegistration(
  rp: RelyingParty,
  token: string,
  response: RegistrationResponseJSON,
  now: number,
): Promise<{ ok: true; credential: StoredCredential } | { ok: false; detail: string }> {
  try {
    const result = await verifyRegistrationResponse({
      response,
      expectedChallenge: isoBase64URL.fromBuffer(enrollmentChallenge(token)),
      expectedOrigin: rp.origin,
      expectedRPID: rp.rpId,
      requireUserVerification: true,
    });
    if (!result.verified) return { ok: false, detail: "not verified" };
    const { credential } = result.registrationInfo;
    return {
      ok: true,
      credential: {
        id: credential.id,
        publicKey: isoBase64URL.fromBuffer(credential.publicKey),
        counter: credential.counter,
        transports: (credential.transports ?? []).filter((t) => /^[a-z-]{1,32}$/.test(t)),
        createdAt: new Date(now).toISOString(),
      },
    };
  } catch (error) {
    return { ok: false, detail: why(error) };
  }
}

/**
 * The library's reason, for the audit log, without the values it quotes: those include
 * challenge tokens, which no log line carries.
 */
function why(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/"[^"]*"/g, '"..."').slice(0, 200);
}
