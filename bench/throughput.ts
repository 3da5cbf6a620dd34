import type { BenchParams } from "./config.js";
import { BENCH_SEQUENCE } from "./config.js";
import { runLoad, startServer, type LoadResult } from "./procs.js";
import { verdict, type Row } from "./report.js";
import type { ServerKind } from "./server-child.js";
import { fmt, midMedian } from "./stats.js";

/** One server in a comparison: what to start and which path to load. */
export interface Contender {
  readonly label: string;
  readonly kind: ServerKind;
  readonly path: string;
  /** The only status this server may answer; any other makes the comparison invalid. */
  readonly status: number;
}

/** What compare reports per contender. */
export interface Measured {
  readonly rps: number;
  readonly usPerReq: number;
  readonly runs: LoadResult[];
  /** Statuses other than the expected one, or errors, seen in any measured run. */
  readonly unexpected: string | undefined;
}

/** Median req/s per contender, from alternated runs (A B C C B A ...) with equal settings. */
export async function compare(
  contenders: readonly Contender[],
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Map<string, Measured>> {
  const servers = [];
  try {
    for (const c of contenders) servers.push(await startServer(c.kind, redisUrl));
    const runs = new Map<string, LoadResult[]>(contenders.map((c) => [c.label, []]));
    const cpu = new Map<string, number[]>(contenders.map((c) => [c.label, []]));
    // Warm-up: one short run each, so JIT and connection set-up are not measured.
    for (const [i, c] of contenders.entries()) {
      await runLoad(`${servers[i]?.url ?? ""}${c.path}`, {
        connections: params.connections,
        seconds: 1,
      }).result;
    }
    for (let round = 0; round < params.rounds; round++) {
      // Every other round runs the contenders in reverse order (A B, B A, ...), so a
      // drift in the machine's load over the run does not always favour the same one.
      const order = [...contenders.entries()];
      if (round % 2 === 1) order.reverse();
      for (const [i, c] of order) {
        const server = servers[i];
        const cpuBefore = server?.cpuSeconds() ?? Number.NaN;
        const result = await runLoad(`${server?.url ?? ""}${c.path}`, {
          connections: params.connections,
          seconds: params.loadSeconds,
        }).result;
        const us = (((server?.cpuSeconds() ?? Number.NaN) - cpuBefore) * 1e6) / result.requests;
        runs.get(c.label)?.push(result);
        cpu.get(c.label)?.push(us);
        say(
          `  round ${round + 1} ${c.label}: ${fmt(result.rps)} req/s, server ${fmt(us, 1)} us CPU/req (${result.statuses}, errors ${result.errors})`,
        );
      }
    }
    return new Map(
      contenders.map((c) => {
        const list = runs.get(c.label) ?? [];
        const wrong = list.filter(
          (r) =>
            r.errors > 0 ||
            r.statuses === "" ||
            r.statuses.split(" ").some((entry) => !entry.startsWith(`${String(c.status)}:`)),
        );
        return [
          c.label,
          {
            rps: midMedian(list.map((r) => r.rps)),
            usPerReq: midMedian(cpu.get(c.label) ?? []),
            runs: list,
            unexpected:
              wrong.length === 0
                ? undefined
                : wrong.map((r) => `${r.statuses} errors ${String(r.errors)}`).join("; "),
          },
        ];
      }),
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** Item 1: decoy answers vs a raw node:http 404, with plain Express for context. */
export async function decoyThroughput(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Row[]> {
  say("1. decoy path throughput");
  const result = await compare(
    [
      { label: "raw-decoy", kind: "raw-decoy", path: "/wp-login.php", status: 404 },
      { label: "webknock", kind: "webknock", path: "/wp-login.php", status: 404 },
      { label: "raw", kind: "raw-404", path: "/wp-login.php", status: 404 },
      { label: "express", kind: "express-404", path: "/wp-login.php", status: 404 },
    ],
    params,
    redisUrl,
    say,
  );
  const row = ratioRow(result);
  return checked(result, [
    row(
      "1.decoy",
      "Decoy 404 on unknown path, req/s (webknock vs raw node:http writing the same decoy bytes)",
      "webknock",
      "raw-decoy",
      // issue 11: the nginx decoy stays within 0.9x of raw node:http sending the same bytes.
      0.9,
    ),
    row(
      "1.headers",
      "Context: webknock decoy (nginx's 5 headers) vs raw node:http minimal 404 (2 headers), req/s",
      "webknock",
      "raw",
    ),
    row("1.express", "Context: plain Express 5 404, req/s vs raw node:http 404", "express", "raw"),
  ]);
}

/**
 * Item 2: first step of a door (one EVALSHA) vs raw node:http doing the same EVALSHA and
 * writing the same decoy bytes webknock answers with; a minimal 404 after the EVALSHA for context.
 */
export async function stepThroughput(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Row[]> {
  say("2. knock-step path throughput");
  const result = await compare(
    [
      { label: "raw+redis", kind: "raw-redis", path: "/x", status: 404 },
      { label: "webknock", kind: "webknock", path: BENCH_SEQUENCE[0], status: 404 },
      { label: "raw+redis-404", kind: "raw-redis-404", path: "/x", status: 404 },
    ],
    params,
    redisUrl,
    say,
  );
  const row = ratioRow(result);
  return checked(result, [
    row(
      "2.step",
      "Knock step 0 (one EVALSHA), req/s (webknock vs raw node:http + same EVALSHA + the same decoy bytes)",
      "webknock",
      "raw+redis",
      0.7,
    ),
    row(
      "2.headers",
      "Context: webknock step (decoy, nginx's 5 headers) vs raw node:http + same EVALSHA + minimal 404 (2 headers), req/s",
      "webknock",
      "raw+redis-404",
    ),
  ]);
}

/**
 * Builds the rows comparing one server's req/s with another's from the same run, with
 * both servers' CPU per request; a row with a minimum ratio gets a verdict, others INFO.
 */
export function ratioRow(result: ReadonlyMap<string, Measured>) {
  const rps = (label: string): number => result.get(label)?.rps ?? Number.NaN;
  const us = (label: string): number => result.get(label)?.usPerReq ?? Number.NaN;
  return (id: string, what: string, subject: string, baseline: string, minRatio?: number): Row => {
    const ratio = rps(subject) / rps(baseline);
    return {
      id,
      what,
      figure: `${fmt(rps(subject))} vs ${fmt(rps(baseline))} req/s; server CPU ${fmt(us(subject), 1)} vs ${fmt(us(baseline), 1)} us/req`,
      ratio: `${fmt(ratio, 2)}x`,
      ...(minRatio === undefined
        ? { verdict: "INFO" as const }
        : { target: `>= ${minRatio.toFixed(2)}x`, verdict: verdict(ratio >= minRatio) }),
    };
  };
}

export function checked(result: ReadonlyMap<string, Measured>, rows: Row[]): Row[] {
  const wrong = [...result]
    .filter(([, m]) => m.unexpected !== undefined)
    .map(([label, m]) => `${label} answered ${m.unexpected ?? ""}`);
  if (wrong.length === 0) return rows;
  const note = `; INVALID: ${wrong.join("; ")}`;
  return rows.map((row) => ({
    ...row,
    figure: row.figure + note,
    verdict: row.target === undefined ? row.verdict : "FAIL",
  }));
}
