import { describe, expect, it } from "vitest";
import type { EnrollmentStore } from "../../src/passkey/enrollments.js";

/** A store under test and the clock it reads; `advance` moves that clock. */
export interface EnrollmentFixture {
  readonly store: EnrollmentStore;
  readonly now: () => number;
  advance(ms: number): void;
}

const token = (n: number) => `T${String(n).padStart(31, "0")}`;

/** The behaviour every EnrollmentStore shares, run against each implementation. */
export function enrollmentContract(name: string, make: () => Promise<EnrollmentFixture>): void {
  describe(`${name} enrollment store`, () => {
    it("lists live enrollments and gives each to exactly one taker", async () => {
      const { store, now } = await make();
      await store.put({ token: token(1), user: "alice", expiresAt: now() + 60_000 });
      await store.put({ token: token(2), user: "bob", expiresAt: now() + 60_000 });
      expect((await store.list()).map((e) => e.user).sort()).toEqual(["alice", "bob"]);
      const takes = await Promise.all(Array.from({ length: 5 }, () => store.take(token(1))));
      expect(takes.filter((e) => e !== undefined)).toEqual([
        { token: token(1), user: "alice", expiresAt: expect.any(Number) as number },
      ]);
      expect((await store.list()).map((e) => e.user)).toEqual(["bob"]);
      expect(await store.take(token(9))).toBeUndefined();
    });

    it("forgets an enrollment once it expires", async () => {
      const fixture = await make();
      const { store, now } = fixture;
      await store.put({ token: token(3), user: "carol", expiresAt: now() + 1000 });
      fixture.advance(1000);
      expect(await store.list()).toEqual([]);
      expect(await store.take(token(3))).toBeUndefined();
    });
  });
}
