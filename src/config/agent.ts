import { z } from "zod";
import { HOST_NAME, LOCAL_HOST } from "../fleet/keys.js";
import { portSpec } from "./fields.js";
import { firewallSchema } from "./firewall-schema.js";
import { describeIssue } from "./issues.js";
import { firewallConfig, problemsError } from "./load.js";
import { storeSchema } from "./schema.js";
import { readPrivateFile, type ConfigSources } from "./sources.js";
import { parseYaml } from "./yaml.js";
import type { FirewallConfig, PortSpec, RedisTarget } from "./types.js";

/** A fleet agent's validated configuration (`webknock agent -c agent.yaml`). */
export interface AgentConfig {
  /** This host's name, as doors list it in `hosts`. */
  readonly name: string;
  /** Ports this host protects: its base ruleset, and the only ports a grant may open here. */
  readonly ports: readonly PortSpec[];
  readonly store: { readonly redis: RedisTarget; readonly keyPrefix: string };
  readonly firewall: FirewallConfig;
}

const agentSchema = z.strictObject({
  agent: z.strictObject({
    name: z
      .string()
      .regex(HOST_NAME, "name the host with a-z, 0-9, _ or - (at most 32), as doors list it")
      .superRefine((name, ctx) => {
        if (name === LOCAL_HOST) {
          ctx.addIssue({
            code: "custom",
            input: name,
            message: `"${LOCAL_HOST}" is the gateway's own host; give this agent its own name`,
          });
        }
      }),
    ports: z.array(portSpec).min(1, "list the ports this host protects, such as [tcp/22]"),
  }),
  // An agent claims no codes: replicaAck would be a key it ignores.
  store: storeSchema.omit({ replicaAck: true }).refine((store) => store.redis !== undefined, {
    message: "an agent needs store.redis: the URL (with its ACL user) of the gateway's Redis",
  }),
  firewall: firewallSchema,
});

/**
 * Reads and validates an agent's YAML config; throws ConfigError naming every problem.
 * The file holds the agent's Redis password, so it is refused unless `chmod 600`.
 */
export function loadAgentConfig(path: string, sources: ConfigSources): AgentConfig {
  const problems: string[] = [];
  const text = readPrivateFile(
    "agent config",
    path,
    sources,
    problems,
    "write it from the output of 'webknock agent add NAME -c gateway.yaml'",
  );
  if (text === undefined) throw problemsError(path, problems);
  const parsed = parseYaml(text);
  if (!parsed.ok) throw problemsError(path, [parsed.problem]);
  return resolveAgentConfig(parsed.value, path);
}

/** Validates an already-parsed agent config. */
export function resolveAgentConfig(raw: unknown, origin = "agent config"): AgentConfig {
  const parsed = agentSchema.safeParse(raw ?? {}, { reportInput: true });
  if (!parsed.success) throw problemsError(origin, parsed.error.issues.map(describeIssue));
  const { agent, store, firewall } = parsed.data;
  return {
    name: agent.name,
    ports: agent.ports,
    store: { redis: store.redis ?? "", keyPrefix: store.keyPrefix },
    firewall: firewallConfig(firewall),
  };
}
