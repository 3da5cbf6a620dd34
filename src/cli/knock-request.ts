import type { Command } from "commander";
import type { KnockRequest, RotatingSequence } from "../client/knock.js";
import { parseSequence, type KnockProfile, type RotationProfile } from "../client/profiles.js";
import { proxyFor } from "../client/proxy.js";
import { TransportError } from "../client/http.js";
import { parseDuration } from "../config/duration.js";
import { isKnockPath, KNOCK_PATH_FIX } from "../config/names.js";
import { malformedSecret, normalizeBase32 } from "../config/secret.js";
import { currentTotp } from "../knock/totp.js";
import { CliUsageError } from "./config-option.js";
import type { CliDeps } from "./deps.js";
import { loadProfile, rotatingSequence } from "./client-profile.js";

/** The options `knock` and `tunnel` share: where, which door, who, and how to get the code. */
export interface KnockOptions {
  sequence?: string;
  sequenceKeyFile?: string;
  rotate?: string;
  steps?: string;
  user?: string;
  secretFile?: string;
  code?: string;
  profile?: string;
  clientConfig?: string;
  insecure?: boolean;
  timeout: string;
}

/** Adds the shared knock options to `command`. */
export function withKnockOptions(command: Command): Command {
  return command
    .argument("[url]", "gateway base URL, e.g. https://gw.example.net:8443 or http://[2001:db8::1]")
    .option("-s, --sequence <paths>", "the door's paths in order, comma-separated: /a,/b,/c")
    .option("--sequence-key-file <file>", "a rotating door's key: compute its current paths")
    .option("--rotate <duration>", "the rotating door's window, as in the gateway config (10m)")
    .option("--steps <n>", "the rotating door's number of paths, as in the gateway config")
    .option("-u, --user <name>", "user name")
    .option("--secret-file <file>", "file holding the user's base32 TOTP secret")
    .option("--code <digits>", "a six-digit code from an authenticator app instead of a secret")
    .option(
      "-p, --profile <name>",
      "take url, sequence (or sequenceKeyFile, rotate, steps), user and secretFile from a profile",
    )
    .option("--client-config <file>", "profiles file (default: ~/.config/webknock/client.yaml)")
    .option("-k, --insecure", "do not verify the gateway's TLS certificate (self-signed)")
    .option("--timeout <duration>", "per-request timeout", "10s");
}

/** A checked knock request and the profile it came from. */
export interface ResolvedKnock {
  readonly request: KnockRequest & { readonly url: string; readonly timeoutMs: number };
  readonly profile: KnockProfile;
}

/** Where to send and how: the gateway URL, TLS, timeout and proxy (flags over the profile). */
export interface ResolvedTarget {
  readonly url: string;
  readonly insecure: boolean;
  readonly timeoutMs: number;
  readonly now: CliDeps["now"];
  readonly proxy: URL | undefined;
}

/** The gateway URL, TLS, timeout and proxy settings and the profile they came from. */
export function resolveTarget(
  url: string | undefined,
  options: KnockOptions,
  deps: CliDeps,
): { readonly target: ResolvedTarget; readonly profile: KnockProfile } {
  const profile = options.profile === undefined ? {} : loadProfile(options, deps);
  const base = url ?? profile.url;
  if (base === undefined)
    throw new CliUsageError("No gateway URL: pass it as the first argument or use --profile.");
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new CliUsageError(
      `${JSON.stringify(base)} is not a URL; write http(s)://host[:port], IPv6 as http://[2001:db8::1]:8080.`,
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new CliUsageError(`The gateway URL must start with http:// or https://, got ${base}.`);

  const timeoutMs = parseDuration(options.timeout);
  if (timeoutMs === undefined)
    throw new CliUsageError(`--timeout ${options.timeout} is not a duration such as 10s or 500ms.`);

  let proxy: URL | undefined;
  try {
    proxy = proxyFor(parsed, deps.env);
  } catch (error) {
    if (error instanceof TransportError) throw new CliUsageError(error.message, { fix: error.fix });
    throw error;
  }
  const target = {
    url: parsed.href,
    insecure: options.insecure ?? profile.insecure ?? false,
    timeoutMs,
    now: deps.now,
    proxy,
  };
  return { target, profile };
}

/** Merges options over the profile and checks everything before any packet is sent. */
export function resolveKnock(
  url: string | undefined,
  options: KnockOptions,
  deps: CliDeps,
): ResolvedKnock {
  const { target, profile } = resolveTarget(url, options, deps);
  const sequence = resolveSequence(options, profile, deps);
  const user = options.user ?? profile.user;
  if (user === undefined || user === "")
    throw new CliUsageError("No user: pass --user NAME or use --profile.");
  return {
    request: {
      ...target,
      sequence,
      user,
      code: codeSource(options, profile, `${user} at ${new URL(target.url).host}`, deps),
    },
    profile,
  };
}

/** The static paths, or a rotating door's key and schedule (flags first, then the profile). */
export function resolveSequence(
  options: KnockOptions,
  profile: KnockProfile,
  deps: CliDeps,
): readonly string[] | RotatingSequence {
  const rotatingFlags = [options.sequenceKeyFile, options.rotate, options.steps];
  if (options.sequence !== undefined && rotatingFlags.some((flag) => flag !== undefined))
    throw new CliUsageError(
      "Give either --sequence (a static door) or --sequence-key-file, --rotate and --steps (a rotating door).",
    );
  if (options.sequence === undefined && rotatingFlags.some((flag) => flag !== undefined))
    return rotatingSequence(rotationFromFlags(options), deps);
  if (options.sequence === undefined && profile.rotation !== undefined)
    return rotatingSequence(profile.rotation, deps);
  const sequence =
    options.sequence === undefined ? profile.sequence : parseSequence(options.sequence);
  if (sequence === undefined || sequence.length === 0)
    throw new CliUsageError(
      "No sequence: pass --sequence /a,/b,/c (or --sequence-key-file, --rotate and --steps) or use --profile.",
    );
  // The client checks again before sending; this gives the usage exit code and message.
  const badPath = sequence.find((path) => !isKnockPath(path));
  if (badPath !== undefined)
    throw new CliUsageError(`Sequence path ${JSON.stringify(badPath)}: ${KNOCK_PATH_FIX}.`);
  return sequence;
}

function rotationFromFlags(options: KnockOptions): RotationProfile {
  const { sequenceKeyFile, rotate, steps } = options;
  if (sequenceKeyFile === undefined || rotate === undefined || steps === undefined)
    throw new CliUsageError(
      "A rotating door needs --sequence-key-file, --rotate and --steps together, as in the gateway config.",
    );
  const rotateMs = parseDuration(rotate);
  if (rotateMs === undefined)
    throw new CliUsageError(`--rotate ${rotate} is not a duration such as 10m.`);
  const count = Number(steps);
  if (!Number.isInteger(count) || count < 1 || count > 16)
    throw new CliUsageError(`--steps ${steps}: give a whole number from 1 to 16.`);
  return { keyFile: sequenceKeyFile, rotateMs, steps: count };
}

/**
 * A fixed --code; the secret file, read now, and the code computed when the knock starts;
 * or, with neither, the code asked on the terminal when the knock starts (a tunnel with a
 * live cached grant never asks).
 */
function codeSource(
  options: KnockOptions,
  profile: KnockProfile,
  who: string,
  deps: CliDeps,
): string | (() => Promise<string>) {
  if (options.code !== undefined) {
    if (options.secretFile !== undefined)
      throw new CliUsageError("Give either --code or --secret-file, not both.");
    if (!/^[0-9]{6}$/.test(options.code))
      throw new CliUsageError("--code takes the six digits your authenticator app shows.");
    return options.code;
  }
  const file = options.secretFile ?? profile.secretFile;
  if (file === undefined) {
    const ask = deps.askCode;
    if (ask === undefined)
      throw new CliUsageError("No code: pass --secret-file FILE, --code DIGITS or use --profile.");
    return () => ask(`webknock: code for ${who}: `);
  }
  let text: string;
  try {
    text = deps.readFile(file);
  } catch (error) {
    throw new CliUsageError(
      `Cannot read secret file ${file} (${(error as NodeJS.ErrnoException).code ?? "error"}).`,
    );
  }
  const secret = normalizeBase32(text);
  const problem = malformedSecret(secret);
  if (problem !== undefined) throw new CliUsageError(`Secret file ${file}: ${problem}.`);
  return () => currentTotp(secret, deps.now());
}
