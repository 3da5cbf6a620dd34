import { describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import { ALICE_SECRET, startTestGateway, testConfig } from "../support/gateway.js";
import { knocker, listen } from "./support.js";

const SOLO = ["/solo/1.js", "/solo/2.js"] as const;

describe("TOTP replay (real Redis)", () => {
  it("grants one of 50 parallel submissions of one code, with exactly one firewall open", async () => {
    const config = testConfig({
      doors: { solo: { sequence: [...SOLO], open: ["tcp/2222"], users: ["alice"] } },
      // The replay guard, not the brute-force limiter, is under test here.
      limits: { maxFailures: 100 },
    });
    const t = await startTestGateway({ config });
    const server = await listen(t.gateway.handler);
    try {
      const clients = Array.from({ length: 50 }, (_, i) =>
        knocker(() => server.port, `198.51.100.${i + 1}`),
      );
      const challenges = await Promise.all(clients.map((client) => client.walk(SOLO)));
      expect(challenges.every((c) => typeof c === "string")).toBe(true);
      const code = await currentTotp(ALICE_SECRET, Date.now());
      const replies = await Promise.all(
        clients.map((client, i) => client.redeem(challenges[i] ?? "", { code, path: SOLO[1] })),
      );
      const statuses = replies.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 403)).toHaveLength(49);
      expect(t.firewall.opened).toHaveLength(1);
      expect(t.firewall.opened[0]).toMatchObject({ proto: "tcp", port: 2222 });
      expect(await t.store.listGrants()).toHaveLength(1);
    } finally {
      await server.close();
      await t.close();
    }
  });
});
