import { describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import { ALICE_SECRET, BOB_SECRET, startTestGateway, testConfig } from "../support/gateway.js";
import { captureLog, knocker, listen, wrongCode } from "./support.js";

/** Every string and number anywhere in a parsed log line. */
function leaves(value: unknown): (string | number)[] {
  if (typeof value === "string" || typeof value === "number") return [value];
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(leaves);
  return [];
}

describe("audit log (pino JSON, real Redis)", () => {
  it("records challenge, grant, denial, ban and revoke with ip, door and user, and never a code or secret", async () => {
    const capture = captureLog();
    const config = testConfig({
      limits: { maxFailures: 2, scanner: { distinctPaths: 5 } },
    });
    const t = await startTestGateway({ config, log: capture.log });
    const server = await listen(t.gateway.handler);
    const port = () => server.port;
    const codes: string[] = [];
    const challenges: string[] = [];
    const walk = async (client: ReturnType<typeof knocker>) => {
      const challenge = (await client.walk()) ?? "";
      challenges.push(challenge);
      return challenge;
    };
    try {
      // A grant.
      const good = knocker(port, "198.51.100.1");
      const code = await currentTotp(ALICE_SECRET, Date.now());
      codes.push(code);
      expect((await good.redeem(await walk(good), { code })).status).toBe(200);
      // Denials: wrong code twice for bob (starts a lockout: ban), unknown user.
      const bad = knocker(port, "198.51.100.2");
      for (let i = 0; i < 2; i++) {
        const wrong = await wrongCode(BOB_SECRET);
        codes.push(wrong);
        expect((await bad.redeem(await walk(bad), { user: "bob", code: wrong })).status).toBe(403);
      }
      const stranger = knocker(port, "198.51.100.3");
      const strangerCode = await currentTotp(BOB_SECRET, Date.now());
      codes.push(strangerCode);
      await stranger.redeem(await walk(stranger), { user: "mallory", code: strangerCode });
      // A scanner ban.
      const scanner = knocker(port, "203.0.113.99");
      for (let i = 0; i < 6; i++) await scanner.get(`/scan/${i}`);
      // A revoke (as the admin API will do it).
      await t.gateway.grants.revoke("ssh", "198.51.100.1");
      await expect.poll(() => t.store.isBanned("203.0.113.99")).toBe(true);
    } finally {
      await server.close();
      await t.close();
    }

    const events = capture.events();
    const of = (name: string) => events.filter((e) => e.event === name);
    expect(of("challenge")[0]).toMatchObject({ ip: "198.51.100.1", door: "ssh" });
    expect(of("grant")).toMatchObject([{ ip: "198.51.100.1", door: "ssh", user: "alice" }]);
    expect(of("denial").map((e) => [e.reason, e.user, e.ip, e.door])).toEqual([
      ["wrong-code", "bob", "198.51.100.2", "ssh"],
      ["wrong-code", "bob", "198.51.100.2", "ssh"],
      ["user-not-allowed", "mallory", "198.51.100.3", "ssh"],
    ]);
    expect(of("ban")).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          reason: "brute-force",
          kind: "user",
          user: "bob",
          ip: "198.51.100.2",
        }),
        expect.objectContaining({ reason: "brute-force", kind: "ip", ip: "198.51.100.2" }),
        expect.objectContaining({ reason: "scanner", ip: "203.0.113.99" }),
      ]),
    );
    expect(of("revoke")).toMatchObject([{ ip: "198.51.100.1", door: "ssh", user: "alice" }]);

    const text = capture.lines.join("\n");
    for (const secret of [ALICE_SECRET, BOB_SECRET]) expect(text).not.toContain(secret);
    for (const challenge of challenges) expect(text).not.toContain(challenge);
    for (const value of events.flatMap(leaves)) {
      for (const c of codes) {
        if (typeof value === "string") expect(value).not.toContain(c);
        else expect(value).not.toBe(Number(c));
      }
    }
  });

  it("censors code and secret fields even if some future code path logs them", () => {
    const capture = captureLog();
    capture.log.info({ code: "123456", secret: ALICE_SECRET, body: { code: "654321" } }, "oops");
    expect(capture.lines.join("")).not.toMatch(/123456|654321|GEZDGNBV/);
  });
});
