import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  formatCredentials,
  PasskeyFileError,
  parseCredentials,
  readCredentials,
  updateCredentials,
  writeCredentials,
  type StoredCredential,
} from "../../src/passkey/credentials.js";

const dir = mkdtempSync(join(tmpdir(), "webknock-passkey-file-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const credential = (id: string, counter = 0): StoredCredential => ({
  id,
  publicKey: "pQECAyYgASFYIK",
  counter,
  transports: ["internal"],
  createdAt: "2026-12-02T10:00:00.000Z",
});

describe("the passkey file", () => {
  it("is an empty list before enrollment creates it, or while it is empty", async () => {
    expect(await readCredentials(join(dir, "none.passkeys"))).toEqual([]);
    expect(parseCredentials("")).toEqual([]);
  });

  it("is written atomically with mode 0600 and read back", async () => {
    const path = join(dir, "a.passkeys");
    await writeCredentials(path, [credential("AAAA"), credential("BBBB", 7)]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await readCredentials(path)).toEqual([credential("AAAA"), credential("BBBB", 7)]);
    // Nothing left behind: the temporary file was renamed over the target.
    expect(readdirSync(dir).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  });

  it.each([0o644, 0o640, 0o606])("is refused with mode %o", async (mode) => {
    const path = join(dir, `open-${mode.toString(8)}.passkeys`);
    writeFileSync(path, formatCredentials([]));
    chmodSync(path, mode);
    await expect(readCredentials(path)).rejects.toThrow(PasskeyFileError);
    await expect(readCredentials(path)).rejects.toThrow(`run chmod 600 ${path}`);
  });

  it.each([
    ["not JSON", "it is not JSON"],
    ['{"credentials": []}', "not a webknock passkey file"],
    [
      '{"format": "webknock-passkeys", "credentials": [{"id": "a b"}]}',
      "credentials[0] is malformed",
    ],
    [
      '{"format": "webknock-passkeys", "credentials": [{"id": "AA", "publicKey": "BB", "counter": -1, "transports": [], "createdAt": "x"}]}',
      "credentials[0] is malformed",
    ],
  ])("refuses %s", (text, why) => {
    expect(() => parseCredentials(text)).toThrow(why);
  });

  it("applies concurrent changes one after another, losing none", async () => {
    const path = join(dir, "busy.passkeys");
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        updateCredentials(path, (list) => ({ next: [...list, credential(`ID${i}`)], result: i })),
      ),
    );
    const ids = (await readCredentials(path)).map((c) => c.id).sort();
    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it("leaves the file alone when a change returns no new list", async () => {
    const path = join(dir, "same.passkeys");
    await writeCredentials(path, [credential("KEEP")]);
    const before = statSync(path).mtimeMs;
    expect(await updateCredentials(path, () => ({ result: "nothing" }))).toBe("nothing");
    expect(statSync(path).mtimeMs).toBe(before);
  });
});
