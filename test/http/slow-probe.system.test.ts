import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAST, SEQUENCE, startTestGateway, type TestGateway } from "../support/gateway.js";
import { probe, type Probe } from "../support/raw-http.js";

/** Every path of both test doors, and one that is no door's. */
const RANDOM = "/wp-login.php";
const DOOR_PATHS = [...SEQUENCE, "/w/1", "/w/2"];

/**
 * Requests a prober can leave unfinished or dress up. Each gets its own client IP (the
 * test config trusts X-Forwarded-For from loopback), so no probe moves another's knock.
 */
const SHAPES: Readonly<Record<string, (path: string, ip: string) => string>> = {
  "POST, declared length longer than the body sent": (path, ip) =>
    head("POST", path, ip, [
      "Content-Type: application/x-www-form-urlencoded",
      "Content-Length: 100",
    ]) + "challenge=abc",
  "POST, Expect: 100-continue, no body yet": (path, ip) =>
    head("POST", path, ip, [
      "Content-Type: application/json",
      "Expect: 100-continue",
      "Content-Length: 60",
    ]),
  "POST, chunked body that never ends": (path, ip) =>
    head("POST", path, ip, ["Content-Type: application/json", "Transfer-Encoding: chunked"]) +
    '5\r\n{"a":\r\n',
  "POST, complete body": (path, ip) =>
    head("POST", path, ip, ["Content-Type: application/json", "Content-Length: 2"]) + "{}",
  "PUT, partial body": (path, ip) => head("PUT", path, ip, ["Content-Length: 50"]) + "x",
  "GET, partial body": (path, ip) => head("GET", path, ip, ["Content-Length: 50"]) + "x",
  HEAD: (path, ip) => head("HEAD", path, ip, []),
  "slow headers (never finished)": (path, ip) =>
    `GET ${path} HTTP/1.1\r\nHost: gateway.test\r\nX-Forwarded-For: ${ip}\r\n`,
};

function head(method: string, path: string, ip: string, extra: readonly string[]): string {
  return [
    `${method} ${path} HTTP/1.1`,
    "Host: gateway.test",
    `X-Forwarded-For: ${ip}`,
    "Connection: close",
    ...extra,
  ]
    .join("\r\n")
    .concat("\r\n\r\n");
}

let nextIp = 1;
const freshIp = () => `198.51.100.${nextIp++}`;

describe("a door path answers a slow or odd request exactly as a random path does", () => {
  let t: TestGateway;
  let port: number;
  beforeAll(async () => {
    t = await startTestGateway({ store: "memory" });
    const [url] = await t.gateway.start();
    port = Number(new URL(url ?? "").port);
  });
  afterAll(async () => {
    await t.close();
  });

  for (const [shape, build] of Object.entries(SHAPES)) {
    it(shape, async () => {
      const [random, ...doors] = await Promise.all(
        [RANDOM, ...DOOR_PATHS].map((path) => probe(port, build(path, freshIp()))),
      );
      const expected = random as Probe;
      for (const [i, answer] of doors.entries())
        expect(answer, `${shape} on ${DOOR_PATHS[i] ?? ""}`).toEqual(expected);
    });
  }

  it("waits for the body only on a last step holding a live challenge for this IP (the control)", async () => {
    const ip = freshIp();
    for (const path of SEQUENCE) await probe(port, head("GET", path, ip, []));
    const shape = SHAPES["POST, declared length longer than the body sent"];
    if (shape === undefined) throw new Error("missing shape");
    expect((await probe(port, shape(LAST, ip))).timing).toBe("waits");
    // Another IP, and the same IP on another door's last step, still get the random path's answer.
    expect((await probe(port, shape(LAST, freshIp()))).timing).toBe("immediate");
    expect((await probe(port, shape("/w/2", ip))).timing).toBe("immediate");
  });
});
