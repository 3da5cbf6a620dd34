/**
 * Item 7 (issue 11): `decoy: upstream`. The same small page fetched from the site
 * directly and through webknock's reverse proxy, in the same run: throughput (autocannon,
 * alternated rounds) and added latency (one keep-alive connection, sequential requests,
 * alternated blocks).
 */
import { Agent, get } from "node:http";
import type { BenchParams } from "./config.js";
import { runLoad, startServer } from "./procs.js";
import type { Row } from "./report.js";
import { fmt, median } from "./stats.js";

/** A path on the site that is no knock step. */
const PAGE = "/blog/hello.html";

/** Requests per latency block; blocks alternate direct and proxied. */
const BLOCK = 100;

export async function upstreamProxy(
  params: BenchParams,
  say: (line: string) => void,
): Promise<Row[]> {
  say("7. decoy: upstream (reverse proxy to a real site)");
  const site = await startServer("site");
  const proxy = await startServer("webknock-upstream", site.url);
  try {
    const targets = [
      { label: "direct", url: `${site.url}${PAGE}` },
      { label: "proxied", url: `${proxy.url}${PAGE}` },
    ];
    // Warm-up (JIT, the pool's connections); the quick CI run has no time for it.
    for (const t of params.quick ? [] : targets) {
      await runLoad(t.url, { connections: params.connections, seconds: 1 }).result;
    }
    const rps = new Map<string, number[]>(targets.map((t) => [t.label, []]));
    let bad = "";
    for (let round = 0; round < params.rounds; round++) {
      for (const t of targets) {
        const result = await runLoad(t.url, {
          connections: params.connections,
          seconds: params.loadSeconds,
        }).result;
        rps.get(t.label)?.push(result.rps);
        if (result.errors > 0 || !/^200:\d+$/.test(result.statuses)) {
          bad += ` ${t.label}: ${result.statuses} errors ${String(result.errors)}`;
        }
        say(`  round ${round + 1} ${t.label}: ${fmt(result.rps)} req/s (${result.statuses})`);
      }
    }
    const blocks = params.quick ? 2 : 20;
    const latency = new Map<string, number[]>(targets.map((t) => [t.label, []]));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let block = 0; block < blocks; block++) {
        for (const t of targets) {
          for (let i = 0; i < BLOCK; i++) latency.get(t.label)?.push(await timedGet(t.url, agent));
        }
      }
    } finally {
      agent.destroy();
    }
    const direct = median(rps.get("direct") ?? []);
    const proxied = median(rps.get("proxied") ?? []);
    const lat = (label: string) => latency.get(label) ?? [];
    const addedMs = median(lat("proxied")) - median(lat("direct"));
    say(
      `  latency median direct ${fmt(median(lat("direct")), 3)} ms, proxied ${fmt(median(lat("proxied")), 3)} ms; p99 ${fmt(p99(lat("direct")), 3)} / ${fmt(p99(lat("proxied")), 3)} ms`,
    );
    return [
      {
        id: "7.proxy",
        what: "decoy: upstream, req/s of a page through webknock's proxy vs from the site directly",
        figure: `${fmt(proxied)} vs ${fmt(direct)} req/s${bad === "" ? "" : ` INVALID:${bad}`}`,
        ratio: `${(proxied / direct).toFixed(2)}x`,
        verdict: bad === "" ? "INFO" : "FAIL",
      },
      {
        id: "7.latency",
        what: "decoy: upstream, added latency per request (one keep-alive connection, sequential)",
        figure: `+${fmt(addedMs, 3)} ms median (${fmt(median(lat("proxied")), 3)} vs ${fmt(median(lat("direct")), 3)} ms); p99 ${fmt(p99(lat("proxied")), 3)} vs ${fmt(p99(lat("direct")), 3)} ms`,
        verdict: "INFO",
      },
    ];
  } finally {
    await proxy.stop();
    await site.stop();
  }
}

/** One GET over the agent's connection; resolves with milliseconds to the last byte. */
function timedGet(url: string, agent: Agent): Promise<number> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      res.resume();
      res.on("end", () => {
        resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
    }).on("error", reject);
  });
}

function p99(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? Number.NaN;
}
