import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const SECRET = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";
const KEY = "a1".repeat(32);

let dir: string;
function keyFile(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function config(sequence: unknown, extra: Record<string, unknown> = {}) {
  return {
    firewall: { backend: "log" },
    doors: { api: { sequence, open: ["tcp/22"], users: ["alice"], ...extra } },
    users: { alice: { secret: SECRET } },
  };
}

function problemsOf(raw: unknown): string[] {
  try {
    resolveConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

describe("rotating sequence config", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "webknock-seqkey-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("resolves rotate, steps and the key", () => {
    const file = keyFile("good.seqkey", `${KEY}\n`);
    const loaded = resolveConfig(config({ rotate: "10m", steps: 3, keyFile: file }));
    const door = loaded.doors[0];
    expect(door?.steps).toBe(3);
    expect(door?.sequence).toEqual([]);
    expect(door?.rotation?.rotateMs).toBe(600_000);
    expect(door?.rotation?.key.toString("hex")).toBe(KEY);
  });

  it("refuses a key shorter than 256 bits, naming key, length and fix, never the key", () => {
    const file = keyFile("short.seqkey", "abcd".repeat(15));
    expect(problemsOf(config({ rotate: "10m", steps: 3, keyFile: file }))).toEqual([
      `doors.api.sequence.keyFile: ${file} must hold at least 64 hex digits (256 bits); got 60 characters. Write a fresh key with 'webknock door key api --force'`,
    ]);
    const bad = keyFile("nothex.seqkey", `${"z".repeat(64)}\n`);
    const [problem] = problemsOf(config({ rotate: "10m", steps: 3, keyFile: bad }));
    expect(problem).toContain("with characters outside 0-9a-f");
    expect(problem).not.toContain("zzzz");
  });

  it("refuses a key file other users can read, naming file, mode and fix", () => {
    const file = keyFile("open.seqkey", KEY, 0o644);
    expect(problemsOf(config({ rotate: "10m", steps: 3, keyFile: file }))).toEqual([
      `doors.api.sequence.keyFile: ${file} has mode 0644, so group or others may read the secret; run chmod 600 ${file}`,
    ]);
    const group = keyFile("group.seqkey", KEY, 0o640);
    expect(problemsOf(config({ rotate: "10m", steps: 3, keyFile: group }))[0]).toContain("0640");
    const readOnly = keyFile("ro.seqkey", KEY, 0o400);
    expect(problemsOf(config({ rotate: "10m", steps: 3, keyFile: readOnly }))).toEqual([]);
  });

  it("names a missing key file and the command that writes it", () => {
    const file = join(dir, "missing.seqkey");
    expect(problemsOf(config({ rotate: "10m", steps: 3, keyFile: file }))).toEqual([
      `doors.api.sequence.keyFile: cannot read ${file} (ENOENT); create it with 'webknock door key api --force' or fix the path`,
    ]);
  });

  it("refuses a bad rotate duration with key, value and fix", () => {
    const file = keyFile("r.seqkey", KEY);
    expect(problemsOf(config({ rotate: "10x", steps: 3, keyFile: file }))).toEqual([
      'doors.api.sequence.rotate: got "10x"; write a duration such as 10m (units ms, s, m, h)',
    ]);
    expect(problemsOf(config({ rotate: "30s", steps: 3, keyFile: file }))).toEqual([
      "doors.api.sequence.rotate: got 30s; a knock must finish before its paths expire, so rotate at least every 85s (sequenceTimeout 20s + challengeTimeout 1m + 5s clock margin); 10m is usual",
    ]);
    expect(
      problemsOf(
        config(
          { rotate: "30s", steps: 3, keyFile: file },
          { sequenceTimeout: "5s", challengeTimeout: "20s" },
        ),
      ),
    ).toEqual([]);
  });

  it("refuses bad steps, unknown keys and a sequence that is neither a list nor the rotating form", () => {
    const file = keyFile("s.seqkey", KEY);
    expect(problemsOf(config({ rotate: "10m", steps: 17, keyFile: file }))).toEqual([
      "doors.api.sequence.steps: got 17; write the number of paths per knock, from 1 to 16",
    ]);
    expect(problemsOf(config({ rotate: "10m", steps: 3, keyfile: file }))).toEqual([
      "doors.api.sequence.keyFile: is required; write the path of the key file, such as /etc/webknock/secrets/api.seqkey",
      'doors.api.sequence: got unknown key(s) "keyfile"; check the spelling against config/webknock.example.yaml',
    ]);
    expect(problemsOf(config("/a,/b"))[0]).toMatch(
      /^doors\.api\.sequence: got "\/a,\/b"; list 1 to 16 paths .* or \{rotate: 10m, steps: 3, keyFile: FILE\} for a rotating door$/,
    );
    expect(problemsOf(config(null))[0]).toMatch(
      /^doors\.api\.sequence: got null; list 1 to 16 paths/,
    );
    expect(problemsOf(config(undefined))).toEqual([
      "doors.api.sequence: is required; list 1 to 16 paths such as [/img/a81f3c.png, /p/b7d2e4], or {rotate: 10m, steps: 3, keyFile: FILE} for a rotating door",
    ]);
  });

  it("refuses one key for two doors, naming both", () => {
    const a = keyFile("a.seqkey", KEY);
    const b = keyFile("b.seqkey", `${KEY.toUpperCase()}\n`);
    const raw = config({ rotate: "10m", steps: 3, keyFile: a });
    Object.assign(raw.doors, {
      web: {
        sequence: { rotate: "5m", steps: 2, keyFile: b },
        open: ["tcp/443"],
        users: ["alice"],
      },
    });
    expect(problemsOf(raw)).toEqual([
      `doors.web.sequence.keyFile: ${b} holds the same key as doors.api.sequence.keyFile; every door needs its own key. Write one with 'webknock door key web --force'`,
    ]);
  });
});
