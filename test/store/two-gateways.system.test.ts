import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import { DEFAULT_PREFIX_LENGTHS, subjectOf } from "../../src/net/prefix.js";
import { redisKeys } from "../../src/store/keys.js";
import { createRedisClient, RedisStore } from "../../src/store/redis.js";
import { knocker } from "../defences/support.js";
import { ALICE_SECRET, BOB_SECRET, SEQUENCE } from "../support/gateway.js";
import { spawnCli, type CliProcess } from "../support/spawn-cli.js";
import { waitFor } from "../support/wait.js";

const [FIRST, SECOND, LAST] = SEQUENCE;

/**
 * Two `webknock serve` processes on one Redis (one key prefix): every step of a knock is
 * state in Redis, so the steps may alternate between gateways, and a gateway killed
 * (SIGKILL) mid-knock costs the knocker nothing: the other completes it. Both firewalls
 * are the dry-run one; what is checked is the state both share.
 *
 * An intermediate step is answered before it is recorded (its timing is a random
 * path's), so across gateways a step must land before the next one arrives. A real
 * client's next request is a network round trip later, far longer than the record's one
 * Redis round trip; on loopback the next request can come first (a freshly started
 * gateway's first script call takes a NOSCRIPT and an EVAL), so the steps here wait for
 * their record, as a client's round trip would.
 */
describe("two gateways on one Redis", () => {
  const prefix = `two:${randomUUID().slice(0, 8)}:`;
  let dir: string;
  let a: CliProcess | undefined;
  let b: CliProcess | undefined;
  let portA = 0;
  let portB = 0;
  const store = new RedisStore(createRedisClient(inject("redisUrl")), prefix);
  const reader = createRedisClient(inject("redisUrl"), { enableOfflineQueue: true });

  /** GET of an intermediate step, resolved once the gateway has recorded it in Redis. */
  async function recordedStep(knock: ReturnType<typeof knocker>, path: string, ip: string) {
    const key = redisKeys(prefix).progress(subjectOf(ip, DEFAULT_PREFIX_LENGTHS), "ssh", ip);
    const before = await reader.get(key);
    const reply = await knock.get(path);
    await waitFor(`the step ${path} from ${ip} in Redis`, async () => {
      return (await reader.get(key)) !== before;
    });
    return reply;
  }

  /** Starts `webknock serve` and resolves its listening port. */
  async function serve(file: string): Promise<[CliProcess, number]> {
    const gateway = spawnCli(["serve", "-c", file]);
    // Compiling the CLI with tsx takes seconds on a loaded machine.
    const [, port] = await gateway.waitFor(/"urls":\["http:\/\/127\.0\.0\.1:(\d+)"/, 50_000);
    return [gateway, Number(port)];
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "webknock-two-"));
    const file = join(dir, "gateway.yaml");
    writeFileSync(
      file,
      `server: { listen: [{ host: 127.0.0.1, port: 0 }], trustProxy: [loopback] }
store: { redis: "${inject("redisUrl")}", keyPrefix: "${prefix}" }
firewall: { backend: log }
doors:
  ssh: { sequence: [${SEQUENCE.join(", ")}], open: [tcp/22], openFor: 30s, users: [alice, bob] }
users:
  alice: { secret: ${ALICE_SECRET} }
  bob: { secret: ${BOB_SECRET} }
`,
      { mode: 0o600 },
    );
    const [first, second] = await Promise.all([serve(file), serve(file)]);
    [a, portA] = first;
    [b, portB] = second;
    await store.connect();
    // Each gateway's first steps pay for loading its scripts into Redis and for the JIT:
    // a walk each from an address the tests do not use, so theirs do not.
    await knocker(() => portA, "198.51.100.250").walk();
    await knocker(() => portB, "198.51.100.251").walk();
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop("SIGKILL"), b?.stop("SIGKILL")]);
    const client = createRedisClient(inject("redisUrl"), { enableOfflineQueue: true });
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    client.disconnect();
    reader.disconnect();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("walks a knock whose steps alternate between the gateways, and refuses its replay on either", async () => {
    const ip = "198.51.100.21";
    const onA = knocker(() => portA, ip);
    const onB = knocker(() => portB, ip);
    await recordedStep(onA, FIRST, ip);
    await recordedStep(onB, SECOND, ip);
    const last = await onA.get(LAST);
    expect(last.status).toBe(200);
    const { challenge } = JSON.parse(last.body) as { challenge: string };
    const code = await currentTotp(ALICE_SECRET, Date.now());
    expect((await onB.redeem(challenge, { code })).status).toBe(200);
    expect((await store.listGrants()).map((g) => [g.user, g.ip])).toEqual([["alice", ip]]);

    // The same code again, the walk on B and the redemption on A: a replay.
    const replay = knocker(() => portB, "198.51.100.22");
    const again = await replay.walk();
    const onAgain = knocker(() => portA, "198.51.100.22");
    expect((await onAgain.redeem(again ?? "", { code })).status).toBe(403);
    expect(await store.listGrants()).toHaveLength(1);
  });

  it("completes a knock on B after A, which issued its challenge, is killed (SIGKILL)", async () => {
    const ip = "198.51.100.23";
    const onA = knocker(() => portA, ip);
    const onB = knocker(() => portB, ip);
    await recordedStep(onB, FIRST, ip);
    await recordedStep(onA, SECOND, ip);
    const last = await onA.get(LAST);
    expect(last.status).toBe(200);
    const { challenge } = JSON.parse(last.body) as { challenge: string };

    await a?.stop("SIGKILL");
    expect(a?.child.signalCode).toBe("SIGKILL");
    await expect(onA.get(FIRST)).rejects.toThrow(/ECONNREFUSED/);

    const code = await currentTotp(BOB_SECRET, Date.now());
    const granted = await onB.redeem(challenge, { user: "bob", code });
    expect(granted.status).toBe(200);
    expect(JSON.parse(granted.body)).toMatchObject({ granted: { ip, door: "ssh" } });
    const grants = await store.listGrants();
    expect(grants.filter((g) => g.user === "bob").map((g) => g.ip)).toEqual([ip]);
    // B programmed it (dry run): its own log shows the open for this IP.
    expect(b?.stdout()).toContain(ip);
    // The challenge was taken: it cannot be redeemed a second time.
    expect((await onB.redeem(challenge, { user: "bob", code })).status).not.toBe(200);
  });
});
