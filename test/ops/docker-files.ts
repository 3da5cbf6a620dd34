import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const ROOT = new URL("../../", import.meta.url);

/** The repository's Dockerfile and compose.yaml, read for the tests that check them. */
export const DOCKERFILE = fileURLToPath(new URL("Dockerfile", ROOT));
export const COMPOSE = fileURLToPath(new URL("compose.yaml", ROOT));

/** The last exec-form (JSON array) value of an instruction in the final stage. */
export function dockerInstruction(name: "ENTRYPOINT" | "CMD"): string[] {
  const lines = readFileSync(DOCKERFILE, "utf8").split("\n");
  const values = lines
    .filter((line) => line.startsWith(`${name} `))
    .map((line) => JSON.parse(line.slice(name.length + 1)) as unknown);
  const last = values.at(-1);
  if (!Array.isArray(last) || !last.every((v) => typeof v === "string")) {
    throw new Error(`Dockerfile: ${name} must be in exec form (a JSON array of strings)`);
  }
  return last;
}

/** `ENV` settings of the final stage (`ENV KEY=value` form). */
export function dockerEnv(): Record<string, string> {
  const text = readFileSync(DOCKERFILE, "utf8");
  const final = text.slice(text.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  for (const m of final.matchAll(/^ENV (\w+)=(\S+)$/gm)) env[m[1] ?? ""] = m[2] ?? "";
  return env;
}

/** A compose service, only the keys the tests read. */
export interface ComposeService {
  readonly image?: string;
  readonly build?: unknown;
  readonly network_mode?: string;
  readonly entrypoint?: string[];
  readonly command?: string[];
  readonly cap_add?: string[];
  readonly cap_drop?: string[];
  readonly security_opt?: string[];
  readonly ports?: unknown[];
  readonly volumes?: string[];
  readonly healthcheck?: { readonly test?: string[] };
  readonly depends_on?: Record<string, { readonly condition?: string }>;
}

/** compose.yaml's services. */
export function composeServices(): Record<string, ComposeService> {
  const doc = parse(readFileSync(COMPOSE, "utf8")) as { services?: Record<string, ComposeService> };
  return doc.services ?? {};
}

/** The value after `flag` in an argv, or undefined. */
export function argAfter(argv: readonly string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}
