import { configDefaults, defineConfig } from "vitest/config";

/**
 * Two lanes (`bash scripts/test.sh` runs both, unit first):
 * - unit: `*.test.ts`, needs nothing (no root, no Redis, no namespaces, no child
 *   processes) and no timing: `npx vitest run --project unit`, well under a minute.
 * - system: `*.system.test.ts`, which need Redis, root, network namespaces, Chromium or
 *   spawned processes, or assert timing. Files that share nothing (each Redis test has
 *   its own key prefix) run in parallel; those that create network namespaces, load the
 *   machine (the quick benchmark), count Redis's server-wide statistics or time CPU run
 *   one at a time afterwards (`system-serial`), so nothing skews them.
 */
const SYSTEM = "test/**/*.system.test.ts";
const SERIAL = [
  "test/firewall/**/*.system.test.ts",
  "test/e2e/**/*.system.test.ts",
  "test/cli/firewall*.system.test.ts",
  // Network namespaces (doctor faults, the systemd unit's capabilities, compose's start
  // commands) and a whole build plus npm install (npm pack).
  "test/doctor/firewall.system.test.ts",
  "test/doctor/firewall-time.system.test.ts",
  "test/doctor/cli.system.test.ts",
  "test/ops/**/*.system.test.ts",
  "test/bench/**/*.system.test.ts",
  // Fleet: gateway and agents in network namespaces; Sentinel failover kills a Redis master
  // and times the promotion, which parallel files would slow.
  "test/fleet/fleet.system.test.ts",
  // Times the knocker's bounded wait for a host that never confirms, and runs Chromium.
  "test/fleet/result-page.system.test.ts",
  "test/store/sentinel.system.test.ts",
  // Kills a Redis Cluster master and times the replica's promotion.
  "test/store/cluster-failover.system.test.ts",
  // A 3-master Cluster under the store contract's real-time TTLs, and two `webknock serve`
  // processes compiling the CLI: each slows the other past the 300 ms command timeout.
  "test/store/redis-cluster.system.test.ts",
  "test/store/two-gateways.system.test.ts",
  // Counts commands in Redis's server-wide statistics: parallel files would add to them.
  "test/store/redis-cost.system.test.ts",
  // Asserts CPU time per request, which parallel files would inflate.
  "test/defences/scanner.system.test.ts",
  // Times the peek (slow-loris) and opens hundreds of connections at once.
  "test/tunnel/peek.system.test.ts",
  // Times when a silent client is closed, with and without the router, to 250 ms.
  "test/tunnel/silent.system.test.ts",
  // Times a knock through a delay proxy, and flushes Redis's script cache (server-wide).
  "test/client/knock-pipeline.system.test.ts",
];
/** Starts one redis-server per system project unless WEBKNOCK_TEST_REDIS_URL points at one. */
const REDIS = ["test/support/global-setup.ts"];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores are the minimum we run on; vitest's default would leave one idle.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          exclude: [...configDefaults.exclude, SYSTEM],
        },
      },
      {
        extends: true,
        test: {
          name: "system",
          include: [SYSTEM],
          exclude: [...configDefaults.exclude, ...SERIAL],
          globalSetup: REDIS,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: "system-serial",
          include: SERIAL,
          globalSetup: REDIS,
          sequence: { groupOrder: 2 },
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
