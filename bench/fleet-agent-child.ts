/**
 * One fleet agent for the benchmark (item 8), in its own process: the real FleetAgent on a
 * real kernel backend inside a network namespace (one-shot commands run through
 * `ip netns exec`, which a deployed agent does not pay; grants go through the agent's
 * long-lived nft/ipset session, started in the namespace once), logged in as its own Redis ACL user.
 * argv[2]: JSON `{ host, url, prefix, backend, netns }`. Prints one JSON line per event:
 * `{"synced": ms, "grants": n}` once started, and `{"open": ip, "at": epochMs, "inKernel": bool}`
 * each time an `open` returned (`at` is taken before the kernel check, which is not timed).
 */
import { FleetAgent } from "../src/fleet/agent.js";
import { IpsetFirewall } from "../src/firewall/ipset.js";
import { NftablesFirewall } from "../src/firewall/nftables.js";
import { createExecaRunner, createSessionSpawner } from "../src/firewall/runner.js";
import type { FirewallAdapter, FirewallRule, RuleBatch, RuleKey } from "../src/firewall/types.js";
import { silentLogger } from "../src/log.js";
import { createRedisClient } from "../src/store/redis.js";
import { BENCH_PORT } from "./config.js";
import { preciseNow } from "./stats.js";

interface ChildOptions {
  readonly host: string;
  readonly url: string;
  readonly prefix: string;
  readonly backend: "nftables" | "ipset";
  readonly netns: string;
}

const options = JSON.parse(process.argv[2] ?? "{}") as ChildOptions;
const run = createExecaRunner({ netns: options.netns });
// As `webknock agent` runs them: opens and closes in one long-lived nft/ipset session.
const spawn = createSessionSpawner({ netns: options.netns });
const inner: FirewallAdapter =
  options.backend === "ipset"
    ? new IpsetFirewall({ run, spawn, now: Date.now })
    : new NftablesFirewall({ run, spawn, now: Date.now });

/** Is the grant's element in the kernel set right now? Read straight from the tool. */
async function inKernel(rule: RuleKey): Promise<boolean> {
  const { ip, proto, port } = rule;
  const result =
    options.backend === "ipset"
      ? await run("ipset", ["test", "WEBKNOCK4", `${ip},${proto}:${port}`])
      : await run("nft", [
          "get",
          "element",
          "inet",
          "webknock",
          "allowed4",
          `{ ${ip} . ${proto} . ${port} }`,
        ]);
  return result.exitCode === 0;
}

/** The real adapter, reporting when each open returned. */
const firewall: FirewallAdapter = {
  name: inner.name,
  kernelExpiry: inner.kernelExpiry,
  kernelRemovesExpired: inner.kernelRemovesExpired,
  init: (ports) => inner.init(ports),
  open: async (rule: FirewallRule) => {
    await inner.open(rule);
    const at = preciseNow();
    const found = await inKernel(rule);
    process.stdout.write(`${JSON.stringify({ open: rule.ip, at, inKernel: found })}\n`);
  },
  close: (rule) => inner.close(rule),
  applyBatch: (batch: RuleBatch) =>
    inner.applyBatch ? inner.applyBatch(batch) : Promise.reject(new Error("no batch path")),
  list: () => inner.list(),
  flush: () => inner.flush(),
  uninstall: () => inner.uninstall(),
  release: () => inner.release?.(),
};

const redis = createRedisClient(options.url, { commandTimeout: 5000, socketTimeout: 8000 });
const agent = new FleetAgent({
  host: options.host,
  keyPrefix: options.prefix,
  redis,
  firewall,
  ports: [BENCH_PORT],
  now: Date.now,
  log: silentLogger(),
  sweepIntervalMs: 60_000,
  blockMs: 1000,
});
// The fail-closed client has no offline queue: wait until it is logged in.
await new Promise<void>((resolve, reject) => {
  redis.once("ready", resolve);
  setTimeout(() => {
    reject(new Error(`agent ${options.host} cannot reach Redis`));
  }, 10_000).unref();
});
const started = preciseNow();
await agent.start();
process.stdout.write(
  `${JSON.stringify({ synced: preciseNow() - started, grants: agent.appliedCount })}\n`,
);
process.on("SIGTERM", () => {
  void agent.stop().finally(() => {
    redis.disconnect();
    process.exit(0);
  });
});
