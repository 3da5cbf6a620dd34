import { createFirewall } from "../src/firewall/index.js";
import type { FirewallAdapter } from "../src/firewall/types.js";
import { createGateway } from "../src/gateway.js";
import { silentLogger } from "../src/log.js";
import { systemClock } from "../src/clock.js";
import { createNetns, deleteNetns, type Netns } from "../test/support/netns.js";
import { BENCH_PORT, benchConfig, type BenchParams } from "./config.js";
import { clientIp, codeFor, knock } from "./knock-client.js";
import { runLoad, startServer } from "./procs.js";
import { verdict, type Row } from "./report.js";
import { fmt, median, percentile, sleep } from "./stats.js";

/** Users are handed out once per run: each knock needs a TOTP step nobody used yet. */
let nextUser = 0;
const takeUser = (): number => nextUser++;

/** Times `count` sequential knocks from distinct IPs; bounded by `deadline` (epoch ms). */
async function timeKnocks(
  base: string,
  count: number,
  ipBase: number,
  deadline: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count && Date.now() < deadline; i++) {
    const user = takeUser();
    const code = await codeFor(user, Date.now());
    times.push(await knock(base, clientIp(ipBase, i), user, code));
  }
  return times;
}

const summary = (times: readonly number[]): string =>
  `median ${fmt(median(times), 2)} ms, p99 ${fmt(percentile(times, 99), 2)} ms (n=${times.length})`;

/** Item 3: full knock latency with the gateway in this process, per firewall backend. */
export async function knockLatency(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
  canNetns: boolean,
): Promise<Row[]> {
  say("3. full knock latency");
  const rows: Row[] = [];
  for (const backend of ["log", "ipset"] as const) {
    const id = `3.${backend}`;
    const what = `Full knock (3 GETs + POST, Redis store) with the ${backend} backend${backend === "log" ? "" : " in a namespace"}`;
    if (backend !== "log" && !canNetns) {
      rows.push({ id, what, figure: "needs root and ip netns", verdict: "SKIPPED" });
      continue;
    }
    let ns: Netns | undefined;
    const config = benchConfig({
      redisUrl,
      keyPrefix: `wkb-k${backend}:`,
      trustLoopback: true,
      port: 0,
      backend,
    });
    let firewall: FirewallAdapter | undefined;
    try {
      if (backend !== "log") {
        ns = await createNetns();
        firewall = createFirewall(config.firewall, {
          run: ns.run,
          spawn: ns.spawn, // the gateway's own session, started in the namespace
          log: () => undefined,
          now: systemClock,
        });
        await firewall.init([BENCH_PORT]);
      }
      const gateway = createGateway(config, {
        log: silentLogger(),
        now: systemClock,
        ...(firewall === undefined ? {} : { firewall }),
      });
      const [base = ""] = await gateway.start();
      try {
        await timeKnocks(base, 3, 200, Date.now() + 10_000); // warm-up
        const times = await timeKnocks(base, params.knocks, 100, Date.now() + 120_000);
        say(`  ${backend}: ${summary(times)}`);
        rows.push({ id, what, figure: summary(times), verdict: "INFO" });
      } finally {
        await gateway.stop();
      }
    } finally {
      await firewall?.flush().catch(() => undefined);
      firewall?.release?.();
      await deleteNetns(ns);
    }
  }
  return rows;
}

/** Item 5: time to open while autocannon floods unknown paths, vs idle; gateway in a child. */
export async function knockUnderFlood(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Row[]> {
  say("5. legitimate knock under flood");
  const server = await startServer("webknock-flood", redisUrl);
  try {
    await timeKnocks(server.url, 3, 201, Date.now() + 10_000); // warm-up
    const idle = await timeKnocks(server.url, params.floodKnocks, 50, Date.now() + 60_000);
    say(`  idle: ${summary(idle)}`);
    const floodSeconds = params.quick ? 4 : 10;
    const flood = runLoad(`${server.url}/wp-login.php`, {
      connections: params.connections,
      seconds: floodSeconds,
    });
    await sleep(1_000); // let the flood reach full rate
    const deadline = Date.now() + (floodSeconds - 1.5) * 1000;
    const loaded = await timeKnocks(server.url, params.floodKnocks, 51, deadline);
    const load = await flood.result;
    say(`  flood (${fmt(load.rps)} req/s of decoys): ${summary(loaded)}`);
    const ratio = median(loaded) / median(idle);
    return [
      {
        id: "5.flood",
        what: `Time to open under a decoy flood (${fmt(load.rps)} req/s, ${params.connections} conns) vs idle, medians`,
        figure: `flood ${summary(loaded)}; idle ${summary(idle)}`,
        ratio: `${fmt(ratio, 2)}x`,
        target: "<= 10x",
        verdict: verdict(loaded.length > 0 && ratio <= 10),
      },
    ];
  } finally {
    await server.stop();
  }
}
