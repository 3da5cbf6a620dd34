import request from "supertest";
import { afterEach, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import {
  ALICE_SECRET,
  LAST,
  SEQUENCE,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";

const IP = "203.0.113.7";

/**
 * A clock only the test moves, for expiry checks on the MemoryStore (Redis expiry itself
 * is the store contract's business): no sleeping.
 */
function fakeClock() {
  let time = Date.now();
  return { now: () => time, tick: (ms: number) => (time += ms) };
}

describe("knock flow over HTTP (real Redis)", () => {
  let t!: TestGateway;
  const started: TestGateway[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((g) => g.close()));
  });
  const start = async (options?: Parameters<typeof startTestGateway>[0]) => {
    t = await startTestGateway(options);
    started.push(t);
  };

  /** A MemoryStore gateway on a fake clock whose ssh door has the given timeouts. */
  const startTimed = async (timeouts: Record<string, string>) => {
    const clock = fakeClock();
    const ssh = { sequence: [...SEQUENCE], open: ["tcp/22"], users: ["alice"], ...timeouts };
    await start({ store: "memory", now: clock.now, config: testConfig({ doors: { ssh } }) });
    return clock;
  };

  const get = (path: string, ip = IP) =>
    request(t.gateway.handler)
      .get(path)
      .set("X-Forwarded-For", ip)
      .set("Accept", "application/json");

  async function walk(ip = IP): Promise<string> {
    for (const path of SEQUENCE.slice(0, -1)) expect((await get(path, ip)).status).toBe(404);
    const last = await get(LAST, ip);
    expect(last.status).toBe(200);
    return (last.body as { challenge: string }).challenge;
  }

  const redeem = async (
    challenge: string,
    options: { ip?: string; user?: string; code?: string } = {},
  ) =>
    request(t.gateway.handler)
      .post(LAST)
      .set("X-Forwarded-For", options.ip ?? IP)
      .set("Accept", "application/json")
      .send({
        challenge,
        user: options.user ?? "alice",
        code: options.code ?? (await currentTotp(ALICE_SECRET, Date.now())),
      });

  it("opens the door's ports for the client IP after sequence, challenge and code", async () => {
    await start();
    for (const path of SEQUENCE.slice(0, -1)) expect((await get(path)).status).toBe(404);
    const last = await get(LAST);
    expect(last.status).toBe(200);
    expect(last.body).toEqual({
      door: "ssh",
      challenge: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      expiresIn: 60,
    });
    const before = Date.now();
    const granted = await redeem((last.body as { challenge: string }).challenge);
    expect(granted.status).toBe(200);
    const body = granted.body as { granted: { expiresAt: string } };
    expect(body.granted).toMatchObject({
      door: "ssh",
      ip: IP,
      ports: ["tcp/22", "udp/60001"],
      openFor: 30,
    });
    expect(Date.parse(body.granted.expiresAt) - before).toBeGreaterThanOrEqual(29_000);
    expect(t.firewall.opened.map((r) => `${r.ip} ${r.proto}/${r.port}`)).toEqual([
      `${IP} tcp/22`,
      `${IP} udp/60001`,
    ]);
    expect((await t.store.listGrants()).map((g) => g.ip)).toEqual([IP]);
  });

  it("serves browsers an HTML form and an HTML success page", async () => {
    await start();
    for (const path of SEQUENCE.slice(0, -1))
      await request(t.gateway.handler).get(path).set("X-Forwarded-For", IP);
    const page = await request(t.gateway.handler)
      .get(LAST)
      .set("X-Forwarded-For", IP)
      .set("Accept", "text/html");
    expect(page.status).toBe(200);
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'none'/);
    const challenge = /name="challenge" value="([^"]+)"/.exec(page.text)?.[1];
    expect(challenge).toBeDefined();
    const done = await request(t.gateway.handler)
      .post(LAST)
      .set("X-Forwarded-For", IP)
      .type("form")
      .send({ challenge, user: "alice", code: await currentTotp(ALICE_SECRET, Date.now()) });
    expect(done.status).toBe(200);
    expect(done.text).toContain("tcp/22");
  });

  it("resets progress on an out-of-order step but not on unrelated paths or repeats", async () => {
    await start();
    await get(SEQUENCE[0]);
    expect((await get(LAST)).status).toBe(404); // out of order: reset
    await get(SEQUENCE[1]);
    expect((await get(LAST)).status).toBe(404); // still reset
    await get(SEQUENCE[0]);
    await get("/favicon.ico");
    await get(SEQUENCE[0]); // a double tap
    await get(SEQUENCE[1]);
    await get(SEQUENCE[1]); // a reload
    expect((await get(LAST)).status).toBe(200);
  });

  it("forgets a sequence not finished within sequenceTimeout", async () => {
    const clock = await startTimed({ sequenceTimeout: "300ms" });
    await get(SEQUENCE[0]);
    await get(SEQUENCE[1]);
    clock.tick(400);
    expect((await get(LAST)).status).toBe(404);
  });

  it("refuses a reused, expired or foreign challenge with the decoy", async () => {
    const clock = await startTimed({ challengeTimeout: "300ms" });
    const first = await walk();
    const foreign = await redeem(first, { ip: "198.51.100.9" });
    expect(foreign.status).toBe(404);
    expect((await redeem(first)).status).toBe(200); // the foreign attempt did not consume it
    const reused = await redeem(first);
    expect(reused.status).toBe(404);
    const second = await walk("198.51.100.20");
    clock.tick(400);
    expect((await redeem(second, { ip: "198.51.100.20" })).status).toBe(404);
    expect(t.firewall.opened).toHaveLength(1);
  });

  it("answers a wrong code, a wrong user and a malformed code with one generic 403", async () => {
    await start();
    const good = await currentTotp(ALICE_SECRET, Date.now());
    const wrong = String((Number(good) + 1) % 1_000_000).padStart(6, "0");
    const bodies = new Set<string>();
    for (const attempt of [
      { code: wrong },
      { user: "mallory" },
      { code: "12ab56" },
      { code: "1234567" },
      { code: "" },
    ]) {
      const response = await redeem(await walk(), attempt);
      expect(response.status).toBe(403);
      bodies.add(response.text);
    }
    expect([...bodies]).toEqual(['{"error":"denied"}']);
    expect(t.firewall.opened).toHaveLength(0);
  });

  it("never accepts a code twice (replay)", async () => {
    await start();
    const code = await currentTotp(ALICE_SECRET, Date.now());
    expect((await redeem(await walk(), { code })).status).toBe(200);
    expect((await redeem(await walk("198.51.100.33"), { code, ip: "198.51.100.33" })).status).toBe(
      403,
    );
  });

  it("gives exactly one grant for 20 concurrent submissions of one valid code", async () => {
    await start();
    const ips = Array.from({ length: 20 }, (_, i) => `198.51.100.${i + 100}`);
    const challenges = await Promise.all(ips.map((ip) => walk(ip)));
    const code = await currentTotp(ALICE_SECRET, Date.now());
    const responses = await Promise.all(
      ips.map((ip, i) => redeem(challenges[i] ?? "", { ip, code })),
    );
    expect(responses.filter((r) => r.status === 200)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 403)).toHaveLength(19);
    expect(t.firewall.opened).toHaveLength(2); // one grant, two ports
  });

  it("treats an IPv4-mapped IPv6 client as IPv4", async () => {
    await start();
    const challenge = await walk("::ffff:203.0.113.50");
    const response = await redeem(challenge, { ip: "203.0.113.50" });
    expect(response.status).toBe(200);
    expect(t.firewall.opened[0]?.ip).toBe("203.0.113.50");
  });

  it("opens IPv6 clients with their IPv6 address", async () => {
    await start();
    const ip = "2001:db8::42";
    expect((await redeem(await walk(ip), { ip })).status).toBe(200);
    expect(t.firewall.opened[0]?.ip).toBe(ip);
  });

  it("works the same on the embedded MemoryStore", async () => {
    await start({ store: "memory" });
    expect((await redeem(await walk())).status).toBe(200);
  });
});
