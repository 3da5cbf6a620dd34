import { describe, expect, it } from "vitest";
import { timedStore } from "../../src/store/timed.js";
import { StoreUnavailableError } from "../../src/errors.js";
import { MemoryStore } from "../../src/store/memory.js";

describe("timedStore", () => {
  it("times resolved and rejected calls and otherwise behaves as the store", async () => {
    const calls: [string, number, boolean][] = [];
    const inner = new MemoryStore();
    const store = timedStore(inner, (op, seconds, ok) => calls.push([op, seconds, ok]));

    expect(store.kind).toBe("memory");
    expect(store).toBeInstanceOf(MemoryStore);
    await store.ban("203.0.113.1", 1000, "test");
    expect((await store.listBans()).bans).toHaveLength(1);

    inner.ping = () => Promise.reject(new StoreUnavailableError(new Error("down")));
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);

    expect(calls.map(([op, , ok]) => [op, ok])).toEqual([
      ["ban", true],
      ["listBans", true],
      ["ping", false],
    ]);
    for (const [, seconds] of calls) expect(seconds).toBeGreaterThanOrEqual(0);
    expect(store.size).toBe(inner.size); // getters pass through
  });
});
