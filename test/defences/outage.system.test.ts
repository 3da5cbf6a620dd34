import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { currentTotp } from "../../src/knock/totp.js";
import {
  ALICE_SECRET,
  BOB_SECRET,
  LAST,
  RecordingFirewall,
  SEQUENCE,
  testConfig,
} from "../support/gateway.js";
import { freePort, startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { captureLog, knocker, sleep } from "./support.js";

/**
 * A user per redemption: each uses a TOTP code, which may be used only once. Three
 * recovery checks, and spares for redemptions that a slow first command after a restart
 * fails closed (503), after which that user's code may already be claimed.
 */
const USERS = new Map([
  ["alice", ALICE_SECRET],
  ["bob", BOB_SECRET],
  ["carol", "KRUGS4ZANFZSAYJAORSXG5BAONSWG4TF"],
  ["dave", "ONSWG4TFOQYTEMZUGU3DOOBZGAYTEMZU"],
  ["erin", "MVZGS3RAONSWG4TFOQQGC3TEEBWW64TF"],
  ["frank", "MZZGC3TLEBZWKY3SMV2CAYLOMQQG233S"],
  ["grace", "M5ZGCY3FEBZWKY3SMV2CAYLOMQQG233S"],
]);
const users = [...USERS];

/** This file's own redis-server, which it stops and freezes, on a port nobody else uses. */
let outageRedisPort = 0;

describe("Redis outage: fail closed, recover by itself", () => {
  let redis: RedisServerHandle;
  let gateway: Gateway;
  let port: number;
  const firewall = new RecordingFirewall();
  const capture = captureLog();
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  let nextIp = 1;
  const client = () => knocker(() => port, `198.51.100.${nextIp++}`);

  beforeAll(async () => {
    process.on("unhandledRejection", onError);
    process.on("uncaughtException", onError);
    outageRedisPort = await freePort();
    redis = await startRedisServer(outageRedisPort);
    const config = testConfig({
      store: { redis: redis.url, keyPrefix: `outage:${Date.now()}:` },
      doors: { ssh: { sequence: [...SEQUENCE], open: ["tcp/22"], users: [...USERS.keys()] } },
      users: Object.fromEntries([...USERS].map(([name, secret]) => [name, { secret }])),
    });
    gateway = createGateway(config, { log: capture.log, now: Date.now, firewall });
    const [url] = await gateway.start();
    port = Number(new URL(url ?? "").port);
  });
  afterAll(async () => {
    redis.process.kill("SIGCONT");
    await gateway.stop();
    await redis.stop();
    process.off("unhandledRejection", onError);
    process.off("uncaughtException", onError);
  });

  /** GETs a step path (the last by default); returns status and elapsed milliseconds. */
  async function timedStep(path: string = LAST): Promise<{ status: number; ms: number }> {
    const started = performance.now();
    const reply = await client().get(path);
    return { status: reply.status, ms: performance.now() - started };
  }

  /**
   * Polls until a full knock and redemption work again (the client reconnects by itself).
   * A redemption may still fail closed (503: its commands slow on a loaded machine just
   * after the restart); it is never anything else, and the next knock must get through.
   */
  async function expectRecovery(withinMs: number): Promise<void> {
    const deadline = Date.now() + withinMs;
    for (;;) {
      const c = client();
      const challenge = await c.walk().catch(() => undefined);
      if (challenge !== undefined) {
        const [user, secret] = users.shift() ?? ["", ""];
        const code = await currentTotp(secret, Date.now());
        const { status } = await c.redeem(challenge, { user, code });
        if (status === 200) return;
        expect(status).toBe(503);
      }
      if (Date.now() > deadline) throw new Error(`no recovery within ${withinMs} ms`);
      await sleep(100);
    }
  }

  it("answers 503 within 500 ms and opens nothing while Redis is frozen (SIGSTOP)", async () => {
    await expectRecovery(3000); // healthy to begin with
    const openedBefore = firewall.opened.length;
    const holder = client();
    const challenge = (await holder.walk()) ?? "";
    expect(challenge).not.toBe("");

    redis.process.kill("SIGSTOP");
    const step = await timedStep();
    expect(step.status).toBe(503);
    expect(step.ms).toBeLessThan(500);
    const started = performance.now();
    const redeem = await holder.redeem(challenge);
    expect(redeem.status).toBe(503);
    expect(performance.now() - started).toBeLessThan(500);
    // Paths that are no step never touch the store: still the instant decoy. Nor does the
    // answer of an intermediate step depend on it: the decoy goes out first.
    expect((await timedStep("/not/a/step")).status).toBe(404);
    const intermediate = await timedStep(SEQUENCE[0]);
    expect(intermediate.status).toBe(404);
    expect(intermediate.ms).toBeLessThan(500);
    expect(firewall.opened.length).toBe(openedBefore);
    // Longer than socketTimeout: the client drops the dead connection; still 503, still fast.
    await sleep(2500);
    const later = await timedStep();
    expect(later.status).toBe(503);
    expect(later.ms).toBeLessThan(500);
    expect(firewall.opened.length).toBe(openedBefore);

    redis.process.kill("SIGCONT");
    await expectRecovery(5000);
  });

  it("answers 503 at once while Redis is down and recovers when it comes back on the same port", async () => {
    const openedBefore = firewall.opened.length;
    await redis.stop();
    const step = await timedStep();
    expect(step.status).toBe(503);
    expect(step.ms).toBeLessThan(500);
    expect((await timedStep(SEQUENCE[1])).status).toBe(404);
    const c = client();
    expect((await c.redeem("AAAAAAAAAAAAAAAAAAAAAA")).status).toBe(503);
    expect(firewall.opened.length).toBe(openedBefore);

    await sleep(500); // a few reconnect attempts fail meanwhile
    redis = await startRedisServer(outageRedisPort);
    await expectRecovery(5000); // scripts are reloaded (NOSCRIPT -> EVAL) by ioredis
  });

  it("stayed up: no unhandled errors, and the outage was logged without flooding", () => {
    expect(errors).toEqual([]);
    const events = capture.events();
    const storeErrors = events.filter((e) => e.event === "store-error");
    expect(storeErrors.length).toBeGreaterThan(0);
    expect(storeErrors.length).toBeLessThan(5);
    expect(events.some((e) => e.event === "store-recovered")).toBe(true);
    expect(events.filter((e) => e.event === "unavailable").length).toBeGreaterThan(0);
  });
});
