import type { TestProject } from "vitest/node";
import { freePort, startRedisServer } from "./redis-server.js";

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/** Starts one real redis-server for the whole run unless WEBKNOCK_TEST_REDIS_URL points at one. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.WEBKNOCK_TEST_REDIS_URL;
  if (external !== undefined) {
    project.provide("redisUrl", external);
    return () => Promise.resolve();
  }
  const server = await startRedisServer(await freePort());
  project.provide("redisUrl", server.url);
  return () => server.stop();
}
