import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { knock } from "../../src/client/knock.js";
import { currentTotp } from "../../src/knock/totp.js";
import { cli } from "../support/cli.js";
import {
  ADMIN_TOKEN,
  startListeningGateway,
  TEST_SEQUENCE,
  type ListeningGateway,
} from "../support/gateway.js";

describe("webknock grants / bans", () => {
  let gw: ListeningGateway;
  let dir: string;
  let tokenFile: string;
  const admin = () => ["--admin-url", gw.adminUrl ?? "", "--token-file", tokenFile];

  beforeAll(async () => {
    gw = await startListeningGateway({ users: ["alice"], admin: true });
    dir = mkdtempSync(join(tmpdir(), "webknock-admin-"));
    tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`);
    await knock({
      url: gw.url,
      sequence: TEST_SEQUENCE,
      user: "alice",
      code: () => currentTotp(gw.secrets.get("alice") ?? "", Date.now()),
    });
  });
  afterAll(async () => {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists grants as a table and as JSON", async () => {
    const run = await cli(["grants", "list", ...admin()]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^DOOR +IP +USER +PORTS +LEFT +EXPIRES\n/);
    expect(run.stdout).toMatch(/ssh +127\.0\.0\.1 +alice +tcp\/22,udp\/51820 +\d+s +\d{4}-/);

    // The token may come from the environment too.
    const json = await cli(["grants", "list", "--json", "--admin-url", gw.adminUrl ?? ""], {
      WEBKNOCK_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ grants: [{ door: "ssh", user: "alice" }] });
  });

  it("exits 3 with a wrong token, 4 when unreachable, 2 on bad input", async () => {
    const wrong = join(dir, "wrong");
    writeFileSync(wrong, "wrong-token-0123456789");
    const refused = await cli([
      "grants",
      "list",
      "--admin-url",
      gw.adminUrl ?? "",
      "--token-file",
      wrong,
    ]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain("refused the token");

    const down = await cli([
      "grants",
      "list",
      "--admin-url",
      "http://127.0.0.1:1",
      "--token-file",
      tokenFile,
    ]);
    expect(down.code).toBe(4);

    expect((await cli(["grants", "revoke", "ssh", "nope", ...admin()])).code).toBe(2);
    expect((await cli(["grants", "list", "--admin-url", gw.adminUrl ?? ""])).code).toBe(2);
    expect((await cli(["grants", "revoke", "ssh", ...admin()])).code).toBe(2);
  });

  it("revokes a grant, closing its rules", async () => {
    const run = await cli(["grants", "revoke", "ssh", "127.0.0.1", ...admin()]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toBe("Revoked tcp/22, udp/51820 for 127.0.0.1 on door ssh (user alice).\n");
    expect(await gw.firewall.list()).toEqual([]);

    const again = await cli(["grants", "revoke", "ssh", "127.0.0.1", ...admin()]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("No grant for 127.0.0.1");
    expect((await cli(["grants", "list", ...admin()])).stdout).toBe("No open grants.\n");
  });

  it("lists and lifts bans", async () => {
    await gw.store.ban("2001:db8::7", 60_000, "failures");
    const list = await cli(["bans", "list", ...admin()]);
    // IPv6 bans cover the client's /64 (limits.ipv6Prefix); any address in it lifts it.
    expect(list.stdout).toMatch(/2001:db8::\/64 +\d+s +\d{4}-.+ +failures/);
    const lift = await cli(["bans", "unban", "2001:DB8::7", ...admin()]);
    expect(lift.code).toBe(0);
    expect(lift.stdout).toBe("Unbanned 2001:db8::7.\n");
    expect((await cli(["bans", "list", ...admin()])).stdout).toBe("No bans.\n");
  });

  it("lists every ban, following the API's pages", async () => {
    const ips = Array.from({ length: 1005 }, (_, i) => `10.9.${i >> 8}.${i & 255}`);
    for (const ip of ips) await gw.store.ban(ip, 60_000, "scanner");
    const list = await cli(["bans", "list", "--json", ...admin()]);
    expect(list.stderr).toBe("");
    const bans = (JSON.parse(list.stdout) as { bans: { ip: string }[] }).bans;
    expect(new Set(bans.map((b) => b.ip))).toEqual(new Set(ips));
    for (const ip of ips) await gw.store.unban(ip);
  });
});
