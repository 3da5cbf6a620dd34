import { createFirewall } from "../src/firewall/index.js";
import { grantsChainName } from "../src/firewall/iptables.js";
import { grantRuleSpec } from "../src/firewall/iptables-rule.js";
import type { FirewallAdapter, FirewallRule } from "../src/firewall/types.js";
import { systemClock } from "../src/clock.js";
import { createNetns, deleteNetns, type Netns } from "../test/support/netns.js";
import { BENCH_PORT, benchConfig, type BenchParams } from "./config.js";
import { verdict, type Row } from "./report.js";
import { fmt, msSince, percentile } from "./stats.js";

const BACKENDS = ["log", "ipset", "nftables", "iptables"] as const;
type Backend = (typeof BACKENDS)[number];

/** The n-th pre-populated grant: 10.(100+n/62500).x.y, one hour from now. */
function rule(n: number, expiresAt: number): FirewallRule {
  const ip = `10.${100 + Math.floor(n / 62_500)}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;
  return { ip, proto: BENCH_PORT.proto, port: BENCH_PORT.port, expiresAt };
}

/**
 * Adds grants until `live` reach `target` or `deadlineMs` passes. ipset, nftables and log
 * go through `adapter.open`; iptables' open lists the whole grants chain first (quadratic
 * to fill), so its filling is one iptables-restore of the very rules open inserts.
 */
async function populate(
  backend: Backend,
  adapter: FirewallAdapter,
  ns: Netns | undefined,
  chain: string,
  from: number,
  target: number,
  deadlineMs: number,
  say: (line: string) => void,
): Promise<number> {
  const expiresAt = Date.now() + 3_600_000;
  if (backend === "iptables" && ns !== undefined) {
    const lines = ["*filter"];
    for (let n = from; n < target; n++) {
      const spec = grantRuleSpec(rule(n, expiresAt)).map((a) => (a.includes(" ") ? `"${a}"` : a));
      lines.push(["-A", grantsChainName(chain), ...spec].join(" "));
    }
    lines.push("COMMIT", "");
    await ns.exec("iptables-restore", ["-w", "--noflush"], lines.join("\n"));
    return target;
  }
  let live = from;
  let reported = Date.now();
  while (live < target && Date.now() < deadlineMs) {
    await adapter.open(rule(live, expiresAt));
    live++;
    if (Date.now() - reported > 5_000) {
      say(`    ${backend}: ${live}/${target} grants`);
      reported = Date.now();
    }
  }
  return live;
}

/** Item 4: p99 time of adapter.open for a new IP with 10 / 1,000 / 10,000 live grants. */
export async function grantScale(
  params: BenchParams,
  say: (line: string) => void,
  canNetns: boolean,
): Promise<Row[]> {
  say("4. grant scale");
  const rows: Row[] = [];
  for (const backend of BACKENDS) {
    const id = `4.${backend}`;
    const what = `p99 adapter.open of a new IP at ${params.grantLevels.join(" / ")} live grants, ${backend}${backend === "log" ? "" : " in a namespace"}`;
    if (backend !== "log" && !canNetns) {
      rows.push({ id, what, figure: "needs root and ip netns", verdict: "SKIPPED" });
      continue;
    }
    let ns: Netns | undefined;
    let adapter: FirewallAdapter | undefined;
    try {
      if (backend !== "log") ns = await createNetns();
      const config = benchConfig({ backend });
      adapter = createFirewall(config.firewall, {
        run: ns?.run ?? (() => Promise.reject(new Error("log backend runs nothing"))),
        // The gateway's own session (nftables, ipset), started in the namespace.
        ...(ns === undefined ? {} : { spawn: ns.spawn }),
        log: () => undefined,
        now: systemClock,
      });
      await adapter.init([BENCH_PORT]);
      const deadline = Date.now() + params.populateCapMs;
      const p99s: { level: number; live: number; p99: number }[] = [];
      let live = 0;
      for (const level of params.grantLevels) {
        live = await populate(
          backend,
          adapter,
          ns,
          config.firewall.chain,
          live,
          level,
          deadline,
          say,
        );
        const times: number[] = [];
        for (let i = -3; i < params.grantOpens; i++) {
          // Fresh IPs outside the populated range; closed again so the level stays put.
          const fresh = { ...rule(900_003 + i, Date.now() + 600_000) };
          const start = process.hrtime.bigint();
          await adapter.open(fresh);
          if (i >= 0) times.push(msSince(start)); // the first three warm up
          await adapter.close(fresh);
        }
        p99s.push({ level, live, p99: percentile(times, 99) });
        say(`  ${backend} @ ${live} live grants: p99 ${fmt(percentile(times, 99), 2)} ms`);
      }
      const first = p99s[0];
      const lastLevel = p99s.at(-1);
      const ratio = first && lastLevel ? lastLevel.p99 / first.p99 : Number.NaN;
      const complete = lastLevel !== undefined && lastLevel.live >= lastLevel.level;
      const targeted = backend === "ipset" || backend === "nftables";
      rows.push({
        id,
        what,
        figure: p99s.map((p) => `${p.live}: ${fmt(p.p99, 2)} ms`).join("; "),
        ratio: `${fmt(ratio, 2)}x (largest vs smallest)`,
        ...(targeted ? { target: "<= 1.5x" } : {}),
        verdict: targeted ? verdict(complete && ratio <= 1.5) : "INFO",
      });
    } finally {
      await adapter?.flush().catch(() => undefined);
      adapter?.release?.();
      await deleteNetns(ns);
    }
  }
  return rows;
}
