import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { agentAclArgs, agentUser } from "../../src/fleet/acl.js";
import { createRedisClient } from "../../src/store/redis.js";

/** Options of an agent's client: XREAD blocks, so timeouts sit above the block time. */
export const AGENT_CLIENT = { commandTimeout: 3000, socketTimeout: 5000 } as const;

/** Creates host's ACL user on the server behind `admin` and returns a client logged in as it. */
export async function agentClient(
  admin: Redis,
  url: string,
  prefix: string,
  host: string,
): Promise<Redis> {
  const password = randomBytes(12).toString("hex");
  await admin.call("ACL", "SETUSER", ...agentAclArgs(prefix, host, password));
  const login = new URL(url);
  login.username = agentUser(host);
  login.password = password;
  const client = createRedisClient(login.toString(), AGENT_CLIENT);
  await waitReady(client);
  return client;
}

/** Resolves once the client is ready (the fail-closed options have no offline queue). */
export async function waitReady(client: Redis): Promise<void> {
  if (client.status === "ready") return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`Redis client not ready: ${client.status}`));
    }, 5000);
    client.once("ready", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Polls `check` every 20 ms until it is true or `limitMs` passes; resolves its last answer. */
export async function eventually(check: () => Promise<boolean>, limitMs = 3000): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return check();
}
