import { afterEach, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import { captureLog, knocker, listen, type Listening } from "../defences/support.js";
import {
  ALICE_SECRET,
  BOB_SECRET,
  LAST,
  startTestGateway,
  testConfig,
  type TestGateway,
} from "../support/gateway.js";
import { httpRequest, rawRequest, type RawResponse } from "../support/raw-http.js";

const IP = "198.51.100.7";
const OTHER_IP = "198.51.100.8";

/** What a knock's JSON result offers for closing. */
interface Granted {
  readonly ports: string[];
  readonly close: { readonly url: string; readonly token: string };
}

/**
 * "Close now" over real HTTP on each store: only the granted IP with the token given
 * with the grant closes it, once; everything else gets the decoy's exact bytes.
 */
describe.each(["memory", "redis"] as const)("close now (%s store)", (store) => {
  let t!: TestGateway;
  let server!: Listening;
  let capture!: ReturnType<typeof captureLog>;
  /** Every request the gateway got, as it saw it: printed when a decoy check fails. */
  let seen: string[] = [];
  afterEach(async () => {
    gatewayNow = Date.now;
    await server.close();
    await t.close();
  });

  /** Serves the gateway over HTTP, noting each request as it arrived in `seen`. */
  const listenRecording = (gateway: TestGateway) => {
    seen = [];
    const { handler } = gateway.gateway;
    return listen((req, res) => {
      seen.push(
        `${req.method} ${req.url} :${req.socket.remotePort} ${JSON.stringify(req.rawHeaders)}`,
      );
      handler(req, res);
    });
  };

  /** The gateway's clock: codes are computed on it, so a frozen clock never sees a future code. */
  let gatewayNow: () => number = Date.now;
  const start = async (clock?: { now: () => number }) => {
    gatewayNow = clock?.now ?? Date.now;
    capture = captureLog();
    t = await startTestGateway({ store, log: capture.log, ...(clock ? { now: clock.now } : {}) });
    server = await listenRecording(t);
  };
  const port = () => server.port;

  /** Knocks as `ip` with a fresh code of `secret`; returns the JSON result's grant. */
  async function knock(ip: string, user = "alice", secret = ALICE_SECRET): Promise<Granted> {
    const client = knocker(port, ip);
    const challenge = (await client.walk()) ?? "";
    const reply = await client.redeem(challenge, {
      user,
      code: await currentTotp(secret, gatewayNow()),
    });
    expect(reply.status).toBe(200);
    return (JSON.parse(reply.body) as { granted: Granted }).granted;
  }

  /** POSTs a close (JSON body, or form-encoded with `form`) as `ip`, over a raw socket. */
  const close = (ip: string, token: string, form = false, path: string = LAST) =>
    rawRequest(
      port(),
      httpRequest(
        "POST",
        path,
        {
          "X-Forwarded-For": ip,
          ...(form
            ? { "Content-Type": "application/x-www-form-urlencoded" }
            : { "Content-Type": "application/json", Accept: "application/json" }),
        },
        form ? `close=${encodeURIComponent(token)}` : JSON.stringify({ close: token }),
      ),
    );

  /** What a stranger gets for the same request on a path that is no knock path. */
  const decoy = (token: string) => close("192.0.2.1", token, false, "/no/such/page.png");

  const expectDecoy = (reply: RawResponse, reference: RawResponse) => {
    // Say what came back, what the gateway logged and the requests it got, so a failure
    // can be understood from the report alone.
    expect(
      reply.statusLine,
      `body ${reply.body.slice(0, 300)}; log ${JSON.stringify(capture.lines.slice(-8))}; requests ${JSON.stringify(seen.slice(-6))}`,
    ).toBe("HTTP/1.1 404 Not Found");
    expect(reply).toEqual(reference);
  };

  /** The token with its last character changed (never to itself: a token may end in "A"). */
  const otherToken = (token: string) => `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;

  const rulesOf = async (ip: string) => (await t.firewall.list()).filter((r) => r.ip === ip);

  it("closes from the granted IP with its token, once; the firewall sees the revoke; audited", async () => {
    await start();
    const granted = await knock(IP);
    expect(granted.close).toEqual({ url: LAST, token: expect.stringMatching(/^[\w-]{43}$/) });
    expect(await rulesOf(IP)).toHaveLength(2);
    const reference = await decoy(granted.close.token);

    // Another IP with the right token, and the granted IP with a wrong one: the decoy.
    expectDecoy(await close(OTHER_IP, granted.close.token), reference);
    expectDecoy(await close(IP, otherToken(granted.close.token)), reference);
    expectDecoy(await close(IP, ""), reference);
    expect(await rulesOf(IP)).toHaveLength(2);

    const commands = t.firewall.commands.length;
    const closed = await close(IP, granted.close.token);
    expect(closed.statusLine).toBe("HTTP/1.1 200 OK");
    expect(JSON.parse(closed.body)).toEqual({
      closed: { door: "ssh", ip: IP, ports: ["tcp/22", "udp/60001"] },
    });
    expect(await rulesOf(IP)).toEqual([]);
    expect(t.firewall.commands.slice(commands).map((argv) => argv.join(" "))).toEqual([
      expect.stringMatching(
        /^iptables -w -D WEBKNOCK-GRANTS -s 198\.51\.100\.7 -p tcp --dport 22 /,
      ),
      expect.stringMatching(
        /^iptables -w -D WEBKNOCK-GRANTS -s 198\.51\.100\.7 -p udp --dport 60001 /,
      ),
    ]);
    expect(await t.store.grantsOf(IP, ["ssh"])).toEqual([]);

    // The token is spent: a replay is the decoy, even after a new grant on another door.
    expectDecoy(await close(IP, granted.close.token), reference);

    const events = capture.events();
    expect(events.filter((e) => e.event === "close")).toMatchObject([
      { door: "ssh", ip: IP, user: "alice" },
    ]);
    expect(events.filter((e) => e.event === "close-refused")).toHaveLength(2);
    expect(capture.lines.join("\n")).not.toContain(granted.close.token);
  });

  it("answers a close without a live grant (expired, never granted) with the decoy, body unread", async () => {
    let time = Date.now();
    await start({ now: () => time });
    const granted = await knock(IP);
    const reference = await decoy(granted.close.token);
    time += 30_000; // the door's openFor: expired, not yet swept
    expectDecoy(await close(IP, granted.close.token), reference);
    expect(await t.store.grantsOf(IP, ["ssh"])).toHaveLength(1);
    // Never granted: no grant and no challenge, so the answer does not wait for a body.
    expectDecoy(await close("192.0.2.77", granted.close.token, false, LAST), reference);
    expect(capture.events().filter((e) => e.event === "close")).toEqual([]);
  });

  it("keeps a port another door's live grant of the same IP still needs", async () => {
    const config = testConfig({
      doors: { web: { sequence: ["/w/1", "/w/2"], open: ["tcp/22"], users: ["bob"] } },
    });
    capture = captureLog();
    t = await startTestGateway({ store, log: capture.log, config });
    server = await listenRecording(t);
    const ssh = await knock(IP);
    const client = knocker(port, IP);
    const challenge = (await client.walk(["/w/1", "/w/2"])) ?? "";
    const code = await currentTotp(BOB_SECRET, Date.now());
    const web = await client.redeem(challenge, { user: "bob", code, path: "/w/2" });
    expect(web.status).toBe(200);
    expect((await close(IP, ssh.close.token)).statusLine).toBe("HTTP/1.1 200 OK");
    expect((await rulesOf(IP)).map((r) => `${r.proto}/${r.port}`)).toEqual(["tcp/22"]);
  });

  it("serves the Close now form on the HTML result and the Closed page for it, with a CSP nonce", async () => {
    await start();
    const client = knocker(port, IP);
    const challenge = (await client.walk()) ?? "";
    const page = await rawRequest(
      port(),
      httpRequest(
        "POST",
        LAST,
        { "X-Forwarded-For": IP, "Content-Type": "application/x-www-form-urlencoded" },
        new URLSearchParams({
          challenge,
          user: "alice",
          code: await currentTotp(ALICE_SECRET, Date.now()),
        }).toString(),
      ),
    );
    expect(page.statusLine).toBe("HTTP/1.1 200 OK");
    const form =
      /<form id="close-form" method="post" action="([^"]+)">\s*<input type="hidden" name="close" value="([\w-]{43})"/.exec(
        page.body,
      );
    expect(form?.[1]).toBe(LAST);
    expect(page.body).toContain(">Close now</button>");
    const closed = await close(IP, form?.[2] ?? "", true);
    expect(closed.statusLine).toBe("HTTP/1.1 200 OK");
    expect(closed.body).toContain('<h1 class="bad">Closed</h1>');
    const csp = closed.headerLines.find((h) =>
      h.toLowerCase().startsWith("content-security-policy:"),
    );
    const nonce = /'nonce-([^']+)'/.exec(csp ?? "")?.[1];
    expect(nonce).toBeDefined();
    expect(closed.body).toContain(`<style nonce="${nonce ?? ""}">`);
    expect(await rulesOf(IP)).toEqual([]);
  });
});
