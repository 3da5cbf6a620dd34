import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { execa } from "execa";

/**
 * A systemd unit file read into `section -> key -> values` (a key given twice, such as
 * SystemCallFilter, keeps every value in order). Enough of systemd.syntax(7) for our
 * own units: comments, sections, `Key=Value`; no line continuations.
 */
export type UnitFile = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Parses the unit file at `path`. */
export function readUnitFile(path: string): UnitFile {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of readFileSync(path, "utf8").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line)?.[1];
    if (section !== undefined) {
      current = new Map();
      sections.set(section, current);
      continue;
    }
    const eq = line.indexOf("=");
    if (current === undefined || eq < 1) throw new Error(`${path}: cannot parse ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** Every value of `[Service] key`, joined by spaces (systemd merges list settings). */
export function serviceValue(unit: UnitFile, key: string): string {
  return (unit.get("Service")?.get(key) ?? []).join(" ");
}

/** Issue 15's ceiling for `systemd-analyze security` (0 = locked down, 10 = fully exposed). */
export const MAX_EXPOSURE = 2.5;

/** The overall exposure `systemd-analyze security --offline=yes` gives the unit at `path`. */
export async function exposureScore(path: string): Promise<{ score: number; output: string }> {
  const result = await execa("systemd-analyze", ["security", "--offline=yes", path], {
    reject: false,
    timeout: 30_000,
    env: { SYSTEMD_COLORS: "0" },
  });
  const name = basename(path).replaceAll(".", "\\.");
  const score = new RegExp(`Overall exposure level for ${name}: (\\d+(?:\\.\\d+)?)`).exec(
    result.stdout,
  )?.[1];
  return {
    score: score === undefined ? Number.NaN : Number(score),
    output: `${result.stdout}\n${result.stderr}`,
  };
}

/**
 * setpriv's argv prefix that hands a process what systemd would (minus the sandbox): an
 * unprivileged uid, the unit's capabilities plus `extra` as inheritable, ambient and the
 * whole bounding set, and no new privileges.
 */
export function setprivArgs(unit: UnitFile, extra = ""): string[] {
  const caps = `${serviceValue(unit, "AmbientCapabilities")} ${extra}`
    .trim()
    .split(/\s+/)
    .map((c) => `+${c.replace(/^CAP_/, "").toLowerCase()}`)
    .join(",");
  return [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    `--inh-caps=-all,${caps}`,
    `--ambient-caps=-all,${caps}`,
    `--bounding-set=-all,${caps}`,
    "--no-new-privs",
  ];
}

/** The unit's XTABLES_LOCKFILE setting, with its runtime directory moved to `runDir`. */
export function lockfileEnv(unit: UnitFile, runtimeDir: string, runDir: string): string[] {
  return serviceValue(unit, "Environment")
    .split(/\s+/)
    .filter((e) => e.startsWith("XTABLES_LOCKFILE="))
    .map((e) => e.replace(runtimeDir, runDir));
}
