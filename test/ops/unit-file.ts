import { readFileSync } from "node:fs";

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
