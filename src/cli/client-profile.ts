import type { RotatingSequence } from "../client/knock.js";
import {
  ClientConfigError,
  defaultClientConfigPath,
  readProfile,
  type KnockProfile,
  type RotationProfile,
} from "../client/profiles.js";
import { readKeyFile } from "../sequence/key.js";
import { CliUsageError } from "./config-option.js";
import type { CliDeps } from "./deps.js";

/** Reads `--profile NAME` from `--client-config FILE` or the default client config. */
export function loadProfile(
  options: { readonly profile?: string; readonly clientConfig?: string },
  deps: CliDeps,
): KnockProfile {
  const path = options.clientConfig ?? defaultClientConfigPath(deps.env);
  if (path === undefined)
    throw new CliUsageError("No client config: pass --client-config FILE (HOME is not set).");
  let text: string;
  try {
    text = deps.readFile(path);
  } catch (error) {
    throw new CliUsageError(
      `Cannot read client config ${path} (${(error as NodeJS.ErrnoException).code ?? "error"}); see docs/usage.md for its format.`,
    );
  }
  try {
    return readProfile(text, path, options.profile ?? "", deps.env);
  } catch (error) {
    if (error instanceof ClientConfigError) throw new CliUsageError(error.message);
    throw error;
  }
}

/** Reads the key file now (same rules as the gateway's: 256 bits, mode 0600). */
export function rotatingSequence(rotation: RotationProfile, deps: CliDeps): RotatingSequence {
  const problems: string[] = [];
  const key = readKeyFile(
    "Sequence key file",
    rotation.keyFile,
    { env: deps.env, readFile: deps.readFile },
    problems,
    "webknock door key on the gateway, then copy the key here",
  );
  if (key === undefined) throw new CliUsageError(`${problems.join("; ")}.`);
  return { key, rotateMs: rotation.rotateMs, steps: rotation.steps };
}
