import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import {
  ALICE_SECRET,
  LAST,
  SEQUENCE,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";
import { httpRequest, rawRequest, type RawResponse } from "../support/raw-http.js";
import { waitFor } from "../support/wait.js";
import { knocker, listen, type Listening } from "./support.js";

const NEVER = "/never/configured.css";
const QUICK = ["/q/1.gif", "/q/2.gif"] as const;
const WEB = ["/w/1", "/w/2"] as const;

/**
 * The last step must be indistinguishable from a path that was never configured for
 * anyone not holding a live challenge issued to their IP for this door: compared as
 * raw bytes off the socket (status line, every header in order, body), Date aside.
 */
describe("stealth of the last step (raw sockets, real Redis)", () => {
  let t: TestGateway;
  let server: Listening;
  let nextIp = 1;
  beforeAll(async () => {
    const config = testConfig({
      doors: {
        quick: { sequence: [...QUICK], challengeTimeout: "1s", open: ["tcp/22"], users: ["alice"] },
      },
    });
    t = await startTestGateway({ config });
    server = await listen(t.gateway.handler);
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  /** A fresh client IP per case, so scanner counting and progress never mix. */
  const freshIp = () => `198.51.100.${nextIp++}`;
  const raw = (
    ip: string,
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body = "",
  ) =>
    rawRequest(server.port, httpRequest(method, path, { "X-Forwarded-For": ip, ...headers }, body));
  const form = (challenge: string, code = "123456") =>
    `challenge=${encodeURIComponent(challenge)}&user=alice&code=${code}`;
  const FORM = { "Content-Type": "application/x-www-form-urlencoded" };

  /** Sends the same request to `path` and to a never-configured path; both must be the decoy. */
  async function expectDecoy(
    ip: string,
    method: string,
    path: string,
    headers = {},
    body = "",
  ): Promise<RawResponse> {
    const answer = await raw(ip, method, path, headers, body);
    const reference = await raw(freshIp(), method, NEVER, headers, body);
    expect(answer).toEqual(reference);
    // nginx refuses TRACE (405) on every path; everything else is its 404.
    const nginx = method === "TRACE" ? "405 Not Allowed" : "404 Not Found";
    expect(answer.statusLine).toBe(`HTTP/1.1 ${nginx}`);
    return answer;
  }

  it("answers POST without a challenge, or with a made-up one, with the decoy", async () => {
    await expectDecoy(freshIp(), "POST", LAST, FORM, "user=alice&code=123456");
    await expectDecoy(freshIp(), "POST", LAST, FORM, form("AAAAAAAAAAAAAAAAAAAAAA"));
    await expectDecoy(
      freshIp(),
      "POST",
      LAST,
      { "Content-Type": "application/json" },
      '{"challenge":',
    );
    await expectDecoy(freshIp(), "POST", LAST, FORM, form("x".repeat(5000)));
  });

  it("answers a used challenge with the decoy", async () => {
    const ip = freshIp();
    const client = knocker(() => server.port, ip);
    const challenge = (await client.walk()) ?? "";
    expect((await client.redeem(challenge, { code: "000000" })).status).toBe(403);
    await expectDecoy(ip, "POST", LAST, FORM, form(challenge));
  });

  it("answers an expired challenge with the decoy", async () => {
    const ip = freshIp();
    const challenge = (await knocker(() => server.port, ip).walk(QUICK)) ?? "";
    expect(challenge).not.toBe("");
    // Redis expires the challenge by itself (PX): wait for that, bounded, not a fixed time.
    await waitFor("the challenge expires", async () => !(await t.store.hasChallenge("quick", ip)));
    await expectDecoy(
      ip,
      "POST",
      QUICK[1],
      FORM,
      form(challenge, await currentTotp(ALICE_SECRET, Date.now())),
    );
  });

  it("answers another IP's challenge, and another door's, with the decoy", async () => {
    const owner = freshIp();
    const challenge = (await knocker(() => server.port, owner).walk()) ?? "";
    await expectDecoy(freshIp(), "POST", LAST, FORM, form(challenge));
    const webChallenge = (await knocker(() => server.port, owner).walk(WEB)) ?? "";
    expect(webChallenge).not.toBe("");
    await expectDecoy(owner, "POST", LAST, FORM, form(webChallenge));
    // The owner's own challenge was untouched by all of that.
    expect((await knocker(() => server.port, owner).redeem(challenge)).status).toBe(200);
  });

  it("answers every other method with the decoy, even from a client holding a live challenge", async () => {
    const ip = freshIp();
    const challenge = (await knocker(() => server.port, ip).walk()) ?? "";
    for (const method of ["OPTIONS", "PUT", "DELETE", "PATCH", "HEAD", "TRACE", "PROPFIND"]) {
      const answer = await expectDecoy(ip, method, LAST, FORM, form(challenge));
      expect(answer.headerLines.some((h) => /^allow:/i.test(h))).toBe(false);
    }
    // nginx answers `OPTIONS *` with its 400, and so does the gateway.
    expect((await raw(ip, "OPTIONS", "*")).statusLine).toBe("HTTP/1.1 400 Bad Request");
  });

  it("answers HEAD with the decoy on every step, and a HEAD never advances a knock", async () => {
    const ip = freshIp();
    const client = knocker(() => server.port, ip);
    await client.get(SEQUENCE[0]);
    await expectDecoy(ip, "HEAD", SEQUENCE[1]);
    // Had the HEAD counted as step 2, this GET would issue a challenge.
    expect((await client.get(LAST)).status).toBe(404);
    await client.get(SEQUENCE[0]);
    await client.get(SEQUENCE[1]);
    await expectDecoy(ip, "HEAD", LAST);
  });

  it("shows the generic 403 only to the holder of a live challenge, the same for every reason", async () => {
    const bodies = new Set<string>();
    const statuses = new Set<number>();
    // The CSP nonce is fresh per response by design; everything else must match.
    const strip = (r: RawResponse) =>
      JSON.stringify(r)
        .replace(/nonce-[A-Za-z0-9+/=]+/g, "nonce-N")
        .replace(/nonce=\\"[^"\\]+\\"/g, 'nonce="N"');
    const cases = [
      { user: "alice", code: "000000" }, // wrong code
      { user: "mallory", code: "000000" }, // unknown user
      { user: "bob", code: "000000" }, // bob is allowed on ssh, wrong code
      { user: "alice", code: "12345" }, // malformed
    ];
    for (const fields of cases) {
      const ip = freshIp();
      const challenge = (await knocker(() => server.port, ip).walk()) ?? "";
      const answer = await raw(
        ip,
        "POST",
        LAST,
        FORM,
        `challenge=${challenge}&user=${fields.user}&code=${fields.code}`,
      );
      statuses.add(Number(answer.statusLine.split(" ")[1]));
      bodies.add(strip(answer));
    }
    expect([...statuses]).toEqual([403]);
    expect(bodies.size).toBe(1);
  });
});
