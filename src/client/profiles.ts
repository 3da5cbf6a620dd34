import { dirname, isAbsolute, join, resolve } from "node:path";
import { z } from "zod";
import { parseDuration } from "../config/duration.js";
import { parseYaml } from "../config/yaml.js";
import { WebknockError } from "../errors.js";

/** One saved knock: where, which paths, who, and where the secret lives. */
export interface KnockProfile {
  readonly url?: string;
  readonly sequence?: readonly string[];
  readonly user?: string;
  /** Absolute path (a relative one is resolved against the client config's folder). */
  readonly secretFile?: string;
  readonly insecure?: boolean;
  /** A rotating door: the key file (resolved like secretFile) and its schedule. */
  readonly rotation?: RotationProfile;
  /** `webknock tunnel` over a WebSocket: the door's `tunnel.path`. */
  readonly tunnelPath?: string;
  /** `webknock tunnel` over TLS: the door's `tunnel.sni`. */
  readonly tunnelSni?: string;
}

/** What a client needs to compute a rotating door's current paths (src/sequence/derive.ts). */
export interface RotationProfile {
  /** Absolute path of the door's key file (a copy of the gateway's, mode 0600). */
  readonly keyFile: string;
  /** The door's window length, as the gateway's `rotate`. */
  readonly rotateMs: number;
  /** Paths per knock, as the gateway's `steps`. */
  readonly steps: number;
}

/** The client config could not be used; the message names the file and the key. */
export class ClientConfigError extends WebknockError {
  constructor(message: string) {
    super("ERR_CLIENT_CONFIG", message, {
      fix: "See docs/usage.md for the client config's format: profiles: { NAME: { url, sequence (or sequenceKeyFile, rotate, steps), user, secretFile, tunnelPath or tunnelSni } }.",
    });
  }
}

const profileSchema = z.strictObject({
  url: z.string().min(1).optional(),
  sequence: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  user: z.string().min(1).optional(),
  secretFile: z.string().min(1).optional(),
  insecure: z.boolean().optional(),
  sequenceKeyFile: z.string().min(1).optional(),
  tunnelPath: z.string().min(1).optional(),
  tunnelSni: z.string().min(1).optional(),
  rotate: z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `got ${JSON.stringify(value)}; write the door's rotate duration, such as 10m`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .optional(),
  steps: z
    .number()
    .int()
    .min(1, "write the door's steps, 1 to 16")
    .max(16, "write the door's steps, 1 to 16")
    .optional(),
});
const fileSchema = z.strictObject({ profiles: z.record(z.string(), profileSchema) });

/** `$XDG_CONFIG_HOME/webknock/client.yaml`, else `~/.config/webknock/client.yaml`. */
export function defaultClientConfigPath(env: NodeJS.ProcessEnv): string | undefined {
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, "webknock", "client.yaml");
  if (env.HOME) return join(env.HOME, ".config", "webknock", "client.yaml");
  return undefined;
}

/** Splits `/a,/b,/c` (or takes a list) into paths. */
export function parseSequence(value: string | readonly string[]): string[] {
  const parts = typeof value === "string" ? value.split(",") : value;
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

/** Reads one profile from a client config file's text; throws ClientConfigError. */
export function readProfile(
  text: string,
  path: string,
  name: string,
  env: NodeJS.ProcessEnv,
): KnockProfile {
  const yaml = parseYaml(text);
  if (!yaml.ok)
    throw new ClientConfigError(`Client config ${path} is not valid YAML: ${yaml.problem}`);
  const parsed = fileSchema.safeParse(yaml.value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map(
      (i) => `${i.path.join(".") || "(top level)"}: ${i.message}`,
    );
    throw new ClientConfigError(
      `Client config ${path} is invalid: ${issues.join("; ")}. Expected profiles: { NAME: { url, sequence (or sequenceKeyFile, rotate, steps), user, secretFile } }.`,
    );
  }
  const profile = parsed.data.profiles[name];
  if (profile === undefined) {
    const known = Object.keys(parsed.data.profiles);
    throw new ClientConfigError(
      `Profile ${JSON.stringify(name)} is not in ${path}; it has ${known.length > 0 ? known.join(", ") : "no profiles"}.`,
    );
  }
  const base = dirname(path);
  return {
    url: profile.url,
    sequence: profile.sequence === undefined ? undefined : parseSequence(profile.sequence),
    user: profile.user,
    secretFile:
      profile.secretFile === undefined ? undefined : resolvePath(profile.secretFile, base, env),
    insecure: profile.insecure,
    rotation: readRotation(profile, `${path}: profiles.${name}`, base, env),
    tunnelPath: profile.tunnelPath,
    tunnelSni: profile.tunnelSni,
  };
}

/** The rotating-door keys of a profile: all three, or none; never beside a static sequence. */
function readRotation(
  profile: z.infer<typeof profileSchema>,
  where: string,
  base: string,
  env: NodeJS.ProcessEnv,
): RotationProfile | undefined {
  const { sequenceKeyFile, rotate, steps } = profile;
  if (sequenceKeyFile === undefined && rotate === undefined && steps === undefined)
    return undefined;
  if (profile.sequence !== undefined)
    throw new ClientConfigError(
      `${where}: give either sequence (a static door) or sequenceKeyFile, rotate and steps (a rotating door), not both.`,
    );
  if (sequenceKeyFile === undefined || rotate === undefined || steps === undefined)
    throw new ClientConfigError(
      `${where}: a rotating door needs sequenceKeyFile, rotate and steps together, as 'webknock door key' prints them.`,
    );
  return { keyFile: resolvePath(sequenceKeyFile, base, env), rotateMs: rotate, steps };
}

/** Expands `~/` and resolves relative paths against the config file's folder. */
function resolvePath(path: string, base: string, env: NodeJS.ProcessEnv): string {
  if (path.startsWith("~/") && env.HOME) return join(env.HOME, path.slice(2));
  return isAbsolute(path) ? path : resolve(base, path);
}
