import type { RawConfig } from "./schema.js";
import { readPrivateFile, type ConfigSources } from "./sources.js";
import type { AdminConfig } from "./types.js";

/** A bearer token shorter than this is guessable; `openssl rand -hex 32` gives 64 characters. */
const MIN_ADMIN_TOKEN_CHARS = 16;

/** Resolves the admin section: reads its token, or records why it cannot (never echoing it). */
export function readAdmin(
  admin: RawConfig["admin"],
  sources: ConfigSources,
  problems: string[],
): AdminConfig | undefined {
  if (admin === undefined) return undefined;
  let text: string | undefined;
  if (admin.tokenFile !== undefined) {
    text = readPrivateFile(
      "admin.tokenFile",
      admin.tokenFile,
      sources,
      problems,
      `create it with 'openssl rand -hex 32 > ${admin.tokenFile}; chmod 600 ${admin.tokenFile}'`,
    );
    if (text === undefined) return undefined;
  } else if (admin.tokenEnv !== undefined) {
    text = sources.env[admin.tokenEnv];
    if (text === undefined) {
      problems.push(
        `admin.tokenEnv: environment variable ${admin.tokenEnv} is not set; export it before starting`,
      );
      return undefined;
    }
  }
  const token = (text ?? "").trim();
  if (token.length < MIN_ADMIN_TOKEN_CHARS || /\s/.test(token)) {
    // A token is a secret: say what is wrong with it, never echo it.
    problems.push(
      `admin: the token must be at least ${MIN_ADMIN_TOKEN_CHARS} characters without spaces; got ${token.length}. Generate one with 'openssl rand -hex 32'`,
    );
    return undefined;
  }
  return { listen: admin.listen, token };
}
