import { afterEach, describe, expect, it } from "vitest";
import {
  ALICE_SECRET,
  BOB_SECRET,
  LAST,
  SEQUENCE,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";
import { currentTotp } from "../../src/knock/totp.js";
import { knocker, listen, wrongCode, type Listening } from "./support.js";

const OPS = ["/ops/1", "/ops/2"];
const INSIDE = "198.51.100.20";

/** A door alice is not a member of, and alice limited to 198.51.100.0/24 when `sources`. */
function config(sources: boolean) {
  return testConfig({
    doors: { ops: { sequence: OPS, open: ["tcp/2222"], users: ["bob"] } },
    users: {
      alice: { secret: ALICE_SECRET, ...(sources ? { sources: ["198.51.100.0/24"] } : {}) },
      bob: { secret: BOB_SECRET },
    },
  });
}

describe("who a failed code counts against (real Redis)", () => {
  let t: TestGateway | undefined;
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    await t?.close();
  });
  const port = () => server?.port ?? 0;

  /** Six wrong codes naming alice, each from its own IP (so no IP lockout gets in the way). */
  async function sixWrongCodes(ipBase: string, sequence: readonly string[], path: string) {
    for (let i = 0; i < 6; i++) {
      const attacker = knocker(port, `${ipBase}${i}`);
      const challenge = await attacker.walk(sequence);
      expect(challenge).toBeDefined();
      const reply = await attacker.redeem(challenge ?? "", { code: await wrongCode(), path });
      expect(reply.status).toBe(403);
    }
  }

  it("does not lock alice out through a door she is not a member of", async () => {
    t = await startTestGateway({ config: config(false) });
    server = await listen(t.gateway.handler);
    await sixWrongCodes("203.0.113.", OPS, OPS[1] ?? "");
    const alice = knocker(port, INSIDE);
    expect((await alice.redeem((await alice.walk()) ?? "")).status).toBe(200);
  });

  it("does not lock alice out from outside her sources, on her own door", async () => {
    t = await startTestGateway({ config: config(true) });
    server = await listen(t.gateway.handler);
    await sixWrongCodes("203.0.113.", SEQUENCE, LAST);
    const alice = knocker(port, INSIDE);
    expect((await alice.redeem((await alice.walk()) ?? "")).status).toBe(200);
  });

  it("still counts those failures against the IP", async () => {
    t = await startTestGateway({ config: config(true) });
    server = await listen(t.gateway.handler);
    const attacker = knocker(port, "203.0.113.77");
    for (let i = 0; i < 5; i++) {
      const reply = await attacker.redeem((await attacker.walk(OPS)) ?? "", {
        code: await wrongCode(),
        path: OPS[1] ?? "",
      });
      expect(reply.status).toBe(403);
    }
    // The IP is locked now: even bob's right code from it is refused, on any door.
    const bob = await attacker.redeem((await attacker.walk(OPS)) ?? "", {
      user: "bob",
      code: await currentTotp(BOB_SECRET, Date.now()),
      path: OPS[1] ?? "",
    });
    expect(bob.status).toBe(403);
    expect(t.firewall.opened).toEqual([]);
  });

  it("still locks alice out after six wrong codes on her own door from inside her sources", async () => {
    t = await startTestGateway({ config: config(true) });
    server = await listen(t.gateway.handler);
    await sixWrongCodes("198.51.100.1", SEQUENCE, LAST);
    const alice = knocker(port, INSIDE);
    expect((await alice.redeem((await alice.walk()) ?? "")).status).toBe(403);
  });
});
