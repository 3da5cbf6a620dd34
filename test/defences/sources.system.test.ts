import { afterEach, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import {
  ALICE_SECRET,
  BOB_SECRET,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";
import { captureLog, knocker, listen, type Listening } from "./support.js";

const INSIDE = "198.51.100.9";
const OUTSIDE = "203.0.113.9";

describe("source restrictions (real Redis)", () => {
  let t: TestGateway | undefined;
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    await t?.close();
  });
  const port = () => server?.port ?? 0;

  it("never gives a challenge to a knock from outside the door's sources", async () => {
    const config = testConfig({
      doors: {
        lan: {
          sequence: ["/lan/a", "/lan/b"],
          open: ["tcp/22"],
          users: ["alice"],
          sources: ["198.51.100.0/24", "2001:db8::/32"],
        },
      },
    });
    t = await startTestGateway({ config });
    server = await listen(t.gateway.handler);
    const sequence = ["/lan/a", "/lan/b"];
    expect(await knocker(port, OUTSIDE).walk(sequence)).toBeUndefined();
    expect(await knocker(port, "2001:db9::1").walk(sequence)).toBeUndefined();
    // Still nothing on a second try, or with the sequence repeated.
    expect(await knocker(port, OUTSIDE).walk(sequence)).toBeUndefined();
    expect(await knocker(port, INSIDE).walk(sequence)).toBeDefined();
    expect(await knocker(port, "2001:db8::5").walk(sequence)).toBeDefined();
  });

  it("denies a user knocking from outside the user's sources, with the generic 403", async () => {
    const capture = captureLog();
    const config = testConfig({
      users: {
        alice: { secret: ALICE_SECRET },
        bob: { secret: BOB_SECRET, sources: ["198.51.100.0/24"] },
      },
    });
    t = await startTestGateway({ config, log: capture.log });
    server = await listen(t.gateway.handler);
    const bobCode = () => currentTotp(BOB_SECRET, Date.now());

    const outside = knocker(port, OUTSIDE);
    const denied = await outside.redeem((await outside.walk()) ?? "", {
      user: "bob",
      code: await bobCode(),
    });
    expect(denied.status).toBe(403);
    expect(t.firewall.opened).toEqual([]);
    expect(capture.events().find((e) => e.event === "denial")).toMatchObject({
      reason: "source-not-allowed",
      user: "bob",
      ip: OUTSIDE,
    });

    // Alice has no source restriction; bob from inside gets in (a later TOTP step is
    // not needed: the outside attempt never claimed bob's code).
    const inside = knocker(port, INSIDE);
    const granted = await inside.redeem((await inside.walk()) ?? "", {
      user: "bob",
      code: await bobCode(),
    });
    expect(granted.status).toBe(200);
    expect(new Set(t.firewall.opened.map((r) => r.ip))).toEqual(new Set([INSIDE]));
  });
});
