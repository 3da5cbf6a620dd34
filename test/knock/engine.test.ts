import { describe, expect, it } from "vitest";
import { KnockEngine, type AttemptLimiter } from "../../src/knock/engine.js";
import { currentTotp } from "../../src/knock/totp.js";
import { GrantManager } from "../../src/knock/grants.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { ALICE_SECRET, BOB_SECRET, RecordingFirewall, testConfig } from "../support/gateway.js";

/** Alice may knock only from 10.0.0.0/8; bob from anywhere. */
const config = testConfig({
  users: { alice: { secret: ALICE_SECRET, sources: ["10.0.0.0/8"] }, bob: { secret: BOB_SECRET } },
});
const found = config.doors.find((door) => door.name === "ssh");
if (found === undefined) throw new Error("the test config has no ssh door");
const ssh = found;

/** Records every limiter call; never locks anyone out. */
class RecordingLimiter implements AttemptLimiter {
  readonly calls: string[] = [];
  check(user: string): Promise<boolean> {
    this.calls.push(`check ${user}`);
    return Promise.resolve(true);
  }
  fail(user: string): Promise<void> {
    this.calls.push(`fail ${user}`);
    return Promise.resolve();
  }
  succeed(user: string): Promise<void> {
    this.calls.push(`succeed ${user}`);
    return Promise.resolve();
  }
}

/** An engine on a MemoryStore whose clock only the test moves; `reads` counts the engine's clock reads. */
function setup(start = 1_800_000_000_000) {
  let time = start;
  const clock = () => time;
  let reads = 0;
  const engineClock = () => {
    reads++;
    return time;
  };
  const store = new MemoryStore(clock);
  const firewall = new RecordingFirewall();
  const doors = () => config.doors.map((door) => door.name);
  const grants = new GrantManager(store, firewall, clock, silentLogger(), undefined, doors);
  const limiter = new RecordingLimiter();
  const engine = new KnockEngine({
    config,
    store,
    grants,
    now: engineClock,
    log: silentLogger(),
    limiter,
  });
  /** Walks the ssh door from `ip`; resolves with the challenge token. */
  const walk = async (ip: string): Promise<string> => {
    let token = "";
    for (const path of ssh.sequence) {
      const step = engine.lookup(path);
      if (step === undefined) throw new Error(`${path} is not a step`);
      const result = await engine.step(step, ip);
      if (result.kind === "challenge") token = result.token;
    }
    return token;
  };
  const stepOf = (path: string) => {
    const step = engine.lookup(path);
    if (step === undefined) throw new Error(`${path} is not a step`);
    return step;
  };
  return {
    engine,
    store,
    limiter,
    firewall,
    walk,
    stepOf,
    now: clock,
    reads: () => reads,
    tick: (ms: number) => (time += ms),
  };
}

const last = () => {
  const step = ssh.sequence.at(-1);
  if (step === undefined) throw new Error("empty sequence");
  return step;
};

describe("KnockEngine on a MemoryStore with a fake clock", () => {
  it("does the same work for every denial: an unknown name and a user outside their sources", async () => {
    const work = async (ip: string, user: string) => {
      const t = setup();
      const token = await t.walk(ip);
      const ref = t.engine.lookup(last());
      if (ref === undefined) throw new Error("no last step");
      const before = t.reads();
      const result = await t.engine.redeem(ref, ip, { challenge: token, user, code: "123456" });
      expect(result.kind).toBe("denied");
      return {
        clockReads: t.reads() - before,
        limiter: t.limiter.calls.map((c) => c.split(" ")[0]),
      };
    };
    const unknown = await work("203.0.113.9", "mallory");
    const outsider = await work("203.0.113.9", "alice");
    expect(outsider).toEqual(unknown);
    expect(unknown.limiter).toEqual(["check", "fail"]);
  });

  it("never counts an attempt from outside a user's sources against the user's name", async () => {
    const t = setup();
    const ip = "203.0.113.10";
    const ref = t.engine.lookup(last());
    if (ref === undefined) throw new Error("no last step");
    const result = await t.engine.redeem(ref, ip, {
      challenge: await t.walk(ip),
      user: "alice",
      code: "123456",
    });
    expect(result).toEqual({ kind: "denied", reason: "source-not-allowed" });
    expect(t.limiter.calls.some((call) => call.endsWith(" alice"))).toBe(false);
  });

  it("issues a challenge only for the whole sequence, in order, within sequenceTimeout", async () => {
    const t = setup();
    const [first, second, third] = ssh.sequence.map((path) => t.stepOf(path));
    if (first === undefined || second === undefined || third === undefined)
      throw new Error("the ssh door has three steps");
    const ip = "203.0.113.20";
    expect(await t.engine.step(third, ip)).toEqual({ kind: "decoy" });
    await t.engine.step(first, ip);
    expect(await t.engine.step(third, ip)).toEqual({ kind: "decoy" }); // skipped a step: reset
    await t.engine.step(first, ip);
    await t.engine.step(second, ip);
    t.tick(ssh.sequenceTimeoutMs); // the sequence expires sequenceTimeout after its first step
    expect(await t.engine.step(third, ip)).toEqual({ kind: "decoy" });
    expect((await t.walk(ip)).length).toBeGreaterThan(20);
  });

  it("asks the store for a live challenge or grant only on a last step, and forgets a challenge once redeemed or expired", async () => {
    const t = setup();
    const ip = "203.0.113.21";
    const last = t.stepOf(ssh.sequence.at(-1) ?? "");
    const first = t.stepOf(ssh.sequence[0] ?? "");
    expect((await t.engine.postState(last, ip)).challenge).toBe(false);
    const token = await t.walk(ip);
    expect((await t.engine.postState(last, ip)).challenge).toBe(true);
    expect((await t.engine.postState(first, ip)).challenge).toBe(false);
    expect((await t.engine.postState(last, "203.0.113.22")).challenge).toBe(false);
    const code = await currentTotp(BOB_SECRET, t.now());
    const granted = await t.engine.redeem(last, ip, { challenge: token, user: "bob", code });
    expect(granted.kind).toBe("granted");
    expect(await t.engine.postState(last, ip)).toEqual({ challenge: false, grant: true });
    expect(await t.engine.postState(first, ip)).toEqual({ challenge: false, grant: false });
    expect((await t.engine.postState(last, "203.0.113.22")).grant).toBe(false);
    t.tick(ssh.openForMs);
    expect(await t.engine.postState(last, ip)).toEqual({ challenge: false, grant: false });
    await t.walk(ip);
    t.tick(ssh.challengeTimeoutMs);
    expect((await t.engine.postState(last, ip)).challenge).toBe(false);
  });

  it("opens the door for a good code at the engine's time, once: the same code again is a replay", async () => {
    const t = setup();
    const ip = "203.0.113.23";
    const last = t.stepOf(ssh.sequence.at(-1) ?? "");
    const code = await currentTotp(BOB_SECRET, t.now());
    const result = await t.engine.redeem(last, ip, {
      challenge: await t.walk(ip),
      user: "bob",
      code,
    });
    expect(result.kind).toBe("granted");
    if (result.kind === "granted") expect(result.grant.expiresAt).toBe(t.now() + ssh.openForMs);
    expect(t.firewall.opened).toHaveLength(ssh.open.length);
    const again = await t.engine.redeem(last, ip, {
      challenge: await t.walk(ip),
      user: "bob",
      code,
    });
    expect(again).toEqual({ kind: "denied", reason: "replay" });
    expect(t.limiter.calls).toEqual(["check bob", "succeed bob", "check bob", "fail bob"]);
  });

  it("refuses an expired challenge with the decoy, without counting a failure", async () => {
    const t = setup();
    const ip = "203.0.113.24";
    const token = await t.walk(ip);
    t.tick(ssh.challengeTimeoutMs);
    const last = t.stepOf(ssh.sequence.at(-1) ?? "");
    const code = await currentTotp(BOB_SECRET, t.now());
    expect(await t.engine.redeem(last, ip, { challenge: token, user: "bob", code })).toEqual({
      kind: "decoy",
    });
    expect(t.limiter.calls).toEqual([]);
  });
});
