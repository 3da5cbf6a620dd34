import { readFileSync } from "node:fs";
import { cpus } from "node:os";

/** Verdict of one row: a target met or missed, a plain figure, or a backend not built yet. */
export type Verdict = "PASS" | "FAIL" | "INFO" | "PENDING" | "SKIPPED";

/** One line of the results table. */
export interface Row {
  /** Stable identifier, e.g. "1.decoy"; the quick-mode test checks every one is present. */
  readonly id: string;
  readonly what: string;
  /** The measured figure(s), human-readable. */
  readonly figure: string;
  /** The ratio against the same-run baseline, if the row has one. */
  readonly ratio?: string;
  /** The target, in words, if the row has one. */
  readonly target?: string;
  readonly verdict: Verdict;
}

/** Every row id a complete report has, in order. */
export const ROW_IDS = [
  "1.decoy",
  "1.headers",
  "1.express",
  "2.step",
  "2.headers",
  "3.log",
  "3.ipset",
  "4.log",
  "4.ipset",
  "4.nftables",
  "4.iptables",
  "5.flood",
  "6.redis",
  "6.rss",
  "7.proxy",
  "7.latency",
  "8.latency",
  "8.resync",
  "8.stream",
  "9.tunnel",
  "9.copy",
  "9.ws",
  "9.sni",
  "9.latency",
  "9.decoy",
  "10.open",
] as const;

/** A row's verdict for a target: PASS when `ok`. */
export const verdict = (ok: boolean): Verdict => (ok ? "PASS" : "FAIL");

/** Machine facts printed at the top of the results. */
export function machine(): { cores: number; cpu: string; node: string; date: string } {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("model name"));
    if (line !== undefined) cpu = line.split(":")[1]?.trim() ?? cpu;
  } catch {
    // Not Linux: keep what os.cpus() said.
  }
  return { cores: cpus().length, cpu, node: process.version, date: new Date().toISOString() };
}

/** Renders the results as Markdown. */
export function renderMarkdown(
  rows: readonly Row[],
  mode: string,
  notes: readonly string[],
): string {
  const m = machine();
  const cell = (text: string | undefined): string => (text ?? "").replaceAll("|", "\\|");
  const lines = [
    "# webknock benchmark results",
    "",
    `- Date: ${m.date}`,
    `- Mode: ${mode}`,
    `- Machine: ${m.cores} cores, ${m.cpu}`,
    `- Node: ${m.node}`,
    "",
    "Ratios are against a baseline measured in the same run (servers alternated, medians taken).",
    "",
    "| # | What | Figure | Ratio | Target | Verdict |",
    "|---|------|--------|-------|--------|---------|",
    ...rows.map(
      (r) =>
        `| ${r.id} | ${cell(r.what)} | ${cell(r.figure)} | ${cell(r.ratio)} | ${cell(r.target)} | ${r.verdict} |`,
    ),
    "",
    "## Notes",
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ];
  return lines.join("\n");
}

/** Renders the results for the terminal. */
export function renderText(rows: readonly Row[]): string {
  return rows
    .map(
      (r) =>
        `${r.verdict.padEnd(7)} ${r.id.padEnd(11)} ${r.what}: ${r.figure}` +
        (r.ratio === undefined ? "" : `  ratio ${r.ratio}`) +
        (r.target === undefined ? "" : `  (target ${r.target})`),
    )
    .join("\n");
}
