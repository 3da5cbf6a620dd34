import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { loadAgentConfig } from "../../config/agent.js";
import type { GatewayConfig, RedisTarget } from "../../config/types.js";
import { createExecaRunner, createSessionSpawner } from "../../firewall/runner.js";
import { createFirewall } from "../../firewall/index.js";
import { agentAclArgs, agentUser } from "../../fleet/acl.js";
import { FleetAgent } from "../../fleet/agent.js";
import { fleetHosts } from "../../fleet/hosts.js";
import { HOST_NAME } from "../../fleet/keys.js";
import { listAgents } from "../../fleet/status.js";
import { createLogger } from "../../log.js";
import { createRedisClient } from "../../store/redis.js";
import { CliUsageError, loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/**
 * The agent's client: XREAD blocks up to AGENT_BLOCK_MS, so its command and socket
 * timeouts sit above that (the gateway's 300 ms would cut every wait short).
 */
const AGENT_BLOCK_MS = 1000;
const AGENT_REDIS_OPTIONS = {
  commandTimeout: 3 * AGENT_BLOCK_MS,
  socketTimeout: 5 * AGENT_BLOCK_MS,
};

/**
 * `webknock agent -c agent.yaml` runs a protected host's agent; `webknock agent add NAME
 * -c gateway.yaml` prints its Redis ACL rule and config; `webknock agents list -c
 * gateway.yaml` shows every agent's heartbeat, lag and grants applied.
 */
export function registerAgentCommands(program: Command, deps: CliDeps): void {
  const agent = withConfigOption(
    program.command("agent").description("run a fleet agent (-c agent.yaml), or add one"),
  )
    .option("--log-level <level>", "pino log level", "info")
    .action(async (options: { config?: string; logLevel: string }) => {
      await runAgent(options, deps);
    });

  withConfigOption(
    agent
      .command("add")
      .description("print the Redis ACL rule and the config for a new agent")
      .argument("<name>", "the host's name, as doors list it in hosts"),
  )
    .option("--redis <url>", "Redis URL as the agent reaches it (default: the gateway's)")
    .action((name: string, options: { config?: string; redis?: string }) => {
      // Commander gives `-c` to the parent `agent` too (options are global by default).
      const config = options.config ?? agent.opts<{ config?: string }>().config;
      deps.stdout.write(addAgent(name, loadCliConfig({ config }, deps), options.redis));
    });

  const agents = program.command("agents").description("the fleet's agents");
  withConfigOption(agents.command("list").description("heartbeat, lag and grants per agent"))
    .option("--json", "print JSON")
    .action(async (options: { config?: string; json?: boolean }) => {
      const config = loadCliConfig(options, deps);
      if (config.store.redis === undefined) {
        throw new CliUsageError("No store.redis in the config: agents need the gateway's Redis.");
      }
      const client = createRedisClient(config.store.redis, { enableOfflineQueue: true });
      try {
        const list = await listAgents(client, config.store.keyPrefix, fleetHosts(config));
        deps.stdout.write(
          options.json === true ? `${JSON.stringify({ agents: list })}\n` : table(list, deps.now()),
        );
      } finally {
        client.disconnect();
      }
    });
}

async function runAgent(
  options: { config?: string; logLevel: string },
  deps: CliDeps,
): Promise<void> {
  const path = options.config ?? deps.env.WEBKNOCK_AGENT_CONFIG;
  if (path === undefined || path === "") {
    throw new CliUsageError("No agent config given: pass -c FILE or set WEBKNOCK_AGENT_CONFIG.");
  }
  const config = loadAgentConfig(path, { env: deps.env, readFile: deps.readFile });
  const log = createLogger({ level: options.logLevel });
  const redis = createRedisClient(config.store.redis, AGENT_REDIS_OPTIONS);
  const firewall = createFirewall(config.firewall, {
    run: createExecaRunner(),
    spawn: createSessionSpawner(),
    log: (argv) => {
      log.info({ event: "firewall-dry-run", argv }, argv.join(" "));
    },
    now: deps.now,
  });
  const agent = new FleetAgent({
    host: config.name,
    keyPrefix: config.store.keyPrefix,
    redis,
    firewall,
    ports: config.ports,
    now: deps.now,
    log,
    sweepIntervalMs: config.firewall.sweepIntervalMs,
    blockMs: AGENT_BLOCK_MS,
  });
  // The client has no offline queue: give it a bounded moment to log in, so the first sync
  // normally succeeds at once instead of going through the retry path.
  await readyWithin(redis, REDIS_READY_WAIT_MS);
  await agent.start();
  log.info({ event: "agent-started", host: config.name, firewall: firewall.name }, "agent running");
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ event: "shutdown", signal }, "stopping; programmed grants keep their expiry");
      void agent.stop().finally(() => {
        redis.disconnect();
        resolve();
      });
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}

/** The ACL rule (for redis-cli) and the agent's config, with a fresh password. */
export function addAgent(name: string, config: GatewayConfig, redisUrl?: string): string {
  if (!HOST_NAME.test(name) || name === "local") {
    throw new CliUsageError(
      `Cannot add agent ${JSON.stringify(name)}: name it with a-z, 0-9, _ or - (at most 32), not "local".`,
    );
  }
  const base = redisUrl ?? config.store.redis;
  if (base === undefined) {
    throw new CliUsageError("No store.redis in the config and no --redis URL: agents need Redis.");
  }
  const ports = config.doors
    .filter((door) => door.hosts?.includes(name) === true)
    .flatMap((door) => door.open.map((p) => `${p.proto}/${p.port}`));
  if (ports.length === 0) {
    throw new CliUsageError(
      `No door names host ${name}: add it to a door's hosts (doors.X.hosts: [${name}]) first.`,
    );
  }
  const password = randomBytes(24).toString("base64url");
  const acl = agentAclArgs(config.store.keyPrefix, name, password).map(shellQuote).join(" ");
  const where = locate(base, agentUser(name), password);
  return `# 1. ${where.aclNote}
${where.cliPrefix} ACL SETUSER ${acl}
# (then ACL SAVE if Redis uses an aclfile, or CONFIG REWRITE)

# 2. On ${name}, save as /etc/webknock/agent.yaml, mode 0600 (it holds the agent's password),
#    and run: webknock agent -c /etc/webknock/agent.yaml
agent:
  name: ${name}
  ports: [${[...new Set(ports)].join(", ")}]
store:
  redis: ${where.redisYaml}
  keyPrefix: ${JSON.stringify(config.store.keyPrefix)}
firewall:
  backend: nftables
`;
}

/** Where the ACL line runs and how the agent reaches Redis, for each form of store.redis. */
function locate(target: RedisTarget, user: string, password: string) {
  if (typeof target === "string") {
    const url = new URL(target);
    // The operator's redis-cli goes to the gateway's Redis, without its credentials.
    const cliPrefix = `redis-cli -h ${shellQuote(url.hostname)} -p ${url.port || "6379"}`;
    url.username = user;
    url.password = password;
    return {
      aclNote: `On the gateway's Redis, create the agent's user (it can read its host's grants, never grant):`,
      cliPrefix,
      redisYaml: JSON.stringify(url.toString()),
    };
  }
  const nodes = (list: readonly { host: string; port: number }[]) =>
    list
      .map(({ host, port }) =>
        JSON.stringify(host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`),
      )
      .join(", ");
  const credentials = `username: ${JSON.stringify(user)}, password: ${JSON.stringify(password)}`;
  if ("cluster" in target) {
    return {
      aclNote: `On EVERY node of the Cluster, masters and replicas (ACL rules are not replicated), create the agent's user:`,
      cliPrefix: "redis-cli -h NODE -p PORT",
      redisYaml: `{ cluster: [${nodes(target.cluster)}], ${credentials} }`,
    };
  }
  return {
    aclNote: `On the master of ${target.name} AND on every replica (ACL rules are not replicated), create the agent's user:`,
    cliPrefix: "redis-cli -h NODE -p PORT",
    redisYaml: `{ sentinels: [${nodes(target.sentinels)}], name: ${JSON.stringify(target.name)}, ${credentials} }`,
  };
}

/** A POSIX shell word: the printed line is meant to be pasted into a shell. */
function shellQuote(word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`;
}

function table(list: Awaited<ReturnType<typeof listAgents>>, now: number): string {
  if (list.length === 0) return "No door names an agent's host.\n";
  const rows = list.map((a) => [
    a.host,
    a.heartbeatAt === undefined ? "never" : `${Math.round((now - a.heartbeatAt) / 1000)}s ago`,
    String(a.lag),
    String(a.applied),
    a.backend ?? "-",
  ]);
  const all = [["HOST", "HEARTBEAT", "LAG", "APPLIED", "BACKEND"], ...rows];
  const widths = all[0]?.map((_, i) => Math.max(...all.map((row) => (row[i] ?? "").length))) ?? [];
  return `${all
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** How long the agent waits for its first Redis login before starting anyway (it retries). */
const REDIS_READY_WAIT_MS = 5000;

/** Resolves when the client is ready or after `ms`, whichever is first; never rejects. */
function readyWithin(redis: ReturnType<typeof createRedisClient>, ms: number): Promise<void> {
  if (redis.status === "ready") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off("ready", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once("ready", done);
  });
}
