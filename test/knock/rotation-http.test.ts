import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { currentTotp } from "../../src/knock/totp.js";
import { windowPaths } from "../../src/sequence/derive.js";
import { listen, send, type Listening } from "../defences/support.js";
import { cli } from "../support/cli.js";
import {
  ALICE_SECRET,
  BOB_SECRET,
  startTestGateway,
  type TestGateway,
} from "../support/gateway.js";
import { httpRequest, rawRequest } from "../support/raw-http.js";
import { fakeClock, ROTATE_MS } from "./rotation-support.js";

const KEY = Buffer.alloc(32, 0x5a);
const W = 2_946_000;
const NEVER = "/never/configured.css";

/** A gateway with a rotating door `api` (3 steps, 10m) and the static test doors. */
async function rotatingGateway(dir: string, now: () => number): Promise<TestGateway> {
  const keyFile = join(dir, "api.seqkey");
  writeFileSync(keyFile, `${KEY.toString("hex")}\n`);
  chmodSync(keyFile, 0o600);
  const config = resolveConfig({
    server: { listen: [{ host: "127.0.0.1", port: 0 }], trustProxy: ["loopback"] },
    firewall: { backend: "log" },
    doors: {
      ssh: { sequence: ["/img/a81f3c.png", "/s/c9e044.css"], open: ["tcp/22"], users: ["alice"] },
      api: {
        sequence: { rotate: "10m", steps: 3, keyFile },
        open: ["tcp/8443"],
        users: ["alice", "bob"],
      },
    },
    users: { alice: { secret: ALICE_SECRET }, bob: { secret: BOB_SECRET } },
  });
  return startTestGateway({ config, store: "memory", now });
}

describe("rotating door over HTTP", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "webknock-rotate-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe("on a fake clock", () => {
    const clock = fakeClock(W * ROTATE_MS + 1000);
    let t: TestGateway;
    let server: Listening;
    let nextIp = 1;
    const freshIp = () => `198.51.100.${String(nextIp++)}`;
    const get = (ip: string, path: string) =>
      send(server.port, "GET", path, { "x-forwarded-for": ip, accept: "application/json" });
    const redeem = async (ip: string, path: string, challenge: string) =>
      send(
        server.port,
        "POST",
        path,
        { "x-forwarded-for": ip, accept: "application/json", "content-type": "application/json" },
        JSON.stringify({
          challenge,
          user: "alice",
          code: await currentTotp(ALICE_SECRET, clock.now()),
        }),
      );

    beforeAll(async () => {
      t = await rotatingGateway(dir, clock.now);
      server = await listen(t.gateway.handler);
    });
    afterAll(async () => {
      await server.close();
      await t.close();
    });

    it("opens with the current window's paths", async () => {
      clock.set(W * ROTATE_MS + 60_000);
      const ip = freshIp();
      const [a, b, c] = windowPaths(KEY, W, 3);
      expect((await get(ip, a ?? "")).status).toBe(404);
      expect((await get(ip, b ?? "")).status).toBe(404);
      const last = await get(ip, c ?? "");
      expect(last.status).toBe(200);
      const { challenge } = JSON.parse(last.body) as { challenge: string };
      const granted = await redeem(ip, c ?? "", challenge);
      expect(granted.status).toBe(200);
      expect(t.firewall.opened.map((r) => [r.ip, r.port])).toContainEqual([ip, 8443]);
    });

    it("finishes a knock that straddles the boundary, in either order of windows", async () => {
      const [a0, b0, c0] = windowPaths(KEY, W, 3);
      const [a1, , c1] = windowPaths(KEY, W + 1, 3);
      // Two steps just before the boundary, the last just after it, with the new path.
      const ip = freshIp();
      clock.set((W + 1) * ROTATE_MS - 3000);
      await get(ip, a0 ?? "");
      await get(ip, b0 ?? "");
      clock.set((W + 1) * ROTATE_MS + 2000);
      const last = await get(ip, c1 ?? "");
      expect(last.status).toBe(200);
      const { challenge } = JSON.parse(last.body) as { challenge: string };
      clock.set((W + 1) * ROTATE_MS + 32_000); // a fresh TOTP step for alice
      expect((await redeem(ip, c1 ?? "", challenge)).status).toBe(200);
      // A client whose clock runs behind uses the previous window's paths: still accepted.
      const late = freshIp();
      await get(late, a1 ?? "");
      await get(late, b0 ?? "");
      expect((await get(late, c0 ?? "")).status).toBe(200);
    });

    it("answers a path from two windows back with the decoy, byte for byte, and it advances nothing", async () => {
      clock.set((W + 3) * ROTATE_MS + 1000);
      const stale = windowPaths(KEY, W + 1, 3);
      const current = windowPaths(KEY, W + 3, 3);
      const ip = freshIp();
      for (const path of stale) {
        const answer = await rawRequest(
          server.port,
          httpRequest("GET", path, { "X-Forwarded-For": ip }),
        );
        const reference = await rawRequest(
          server.port,
          httpRequest("GET", NEVER, { "X-Forwarded-For": freshIp() }),
        );
        expect(answer).toEqual(reference);
        expect(answer.statusLine).toBe("HTTP/1.1 404 Not Found");
      }
      // Old first steps then the current last step: no challenge.
      expect((await get(ip, current[2] ?? "")).status).toBe(404);
      // The static door is untouched by the rotation.
      const other = freshIp();
      await get(other, "/img/a81f3c.png");
      expect((await get(other, "/s/c9e044.css")).status).toBe(200);
    });
  });

  it("opens with `webknock knock --profile`, the client computing the current paths", async () => {
    const t = await rotatingGateway(dir, Date.now);
    const server = await listen(t.gateway.handler);
    try {
      const clientKey = join(dir, "client-api.seqkey");
      writeFileSync(clientKey, KEY.toString("hex"));
      chmodSync(clientKey, 0o600);
      writeFileSync(join(dir, "bob.secret"), `${BOB_SECRET}\n`);
      const clientConfig = join(dir, "client.yaml");
      writeFileSync(
        clientConfig,
        [
          "profiles:",
          "  api:",
          `    url: http://127.0.0.1:${String(server.port)}`,
          "    sequenceKeyFile: client-api.seqkey",
          "    rotate: 10m",
          "    steps: 3",
          "    user: bob",
          "    secretFile: bob.secret",
          "",
        ].join("\n"),
      );
      const run = await cli([
        "knock",
        "--profile",
        "api",
        "--client-config",
        clientConfig,
        "--json",
      ]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        granted: { door: "api", ip: "127.0.0.1", ports: ["tcp/8443"] },
      });

      // The same knock with the wrong step count finds no challenge, and says what to check.
      const wrong = await cli([
        "knock",
        `http://127.0.0.1:${String(server.port)}`,
        "--sequence-key-file",
        clientKey,
        "--rotate",
        "10m",
        "--steps",
        "2",
        "--user",
        "bob",
        "--code",
        "123456",
      ]);
      expect(wrong.code).toBe(3);
      expect(wrong.stderr).toMatch(/without a challenge.*key, rotate and steps match/);

      // The client holds its key copy to the gateway's rule: owner-only.
      chmodSync(clientKey, 0o644);
      const open = await cli(["knock", "--profile", "api", "--client-config", clientConfig]);
      expect(open.code).toBe(2);
      expect(open.stderr).toBe(
        `webknock: Sequence key file: ${clientKey} has mode 0644, so group or others may read the secret; run chmod 600 ${clientKey}.\n`,
      );
    } finally {
      await server.close();
      await t.close();
    }
  });
});
