import { Writable } from "node:stream";
import request from "supertest";
import { createLogger } from "../../src/log.js";
import { currentTotp } from "../../src/knock/totp.js";
import { knock } from "../../src/client/knock.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN_TOKEN,
  startListeningGateway,
  TEST_DOOR,
  TEST_SEQUENCE,
  type ListeningGateway,
} from "../support/gateway.js";

const auth = { Authorization: `Bearer ${ADMIN_TOKEN}` };

describe("admin API", () => {
  let gw: ListeningGateway;
  let admin: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logLines.push(chunk.toString());
        done();
      },
    });
    gw = await startListeningGateway({
      users: ["alice", "bob"],
      admin: true,
      log: createLogger({ destination }),
    });
    admin = gw.adminUrl ?? "";
  });
  afterAll(async () => {
    await gw.stop();
  });

  const knockAs = (user: string) =>
    knock({
      url: gw.url,
      sequence: TEST_SEQUENCE,
      user,
      code: () => currentTotp(gw.secrets.get(user) ?? "", Date.now()),
    });

  it("listens on its own port", () => {
    expect(admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(admin).not.toBe(gw.url);
  });

  it.each([
    ["no header", {}],
    ["a wrong token", { Authorization: "Bearer not-the-token-0123456789" }],
    ["the token without Bearer", { Authorization: ADMIN_TOKEN }],
    ["a token with a suffix", { Authorization: `Bearer ${ADMIN_TOKEN}x` }],
  ])("refuses %s with 401 on every endpoint", async (_name, headers) => {
    for (const [method, path] of [
      ["get", "/grants"],
      ["delete", `/grants/${TEST_DOOR}/127.0.0.1`],
      ["get", "/bans"],
      ["delete", "/bans/127.0.0.1"],
      ["get", "/health"],
      ["get", "/metrics"],
      ["post", "/reload"],
    ] as const) {
      const res = await request(admin)[method](path).set(headers);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers["www-authenticate"]).toContain("Bearer");
    }
  });

  it("answers POST /reload with 409 and the problems when the gateway cannot reload", async () => {
    // This gateway's config was built in code: there is no file to re-read.
    const res = await request(admin).post("/reload").set(auth).expect(409);
    expect(res.body).toEqual({
      error: "refused",
      message: "The reload was refused; the gateway keeps running on its old config.",
      problems: [expect.stringContaining("built in code, not read from a file")],
    });
    expect(logLines.filter((line) => line.includes('"event":"reload-refused"'))).toHaveLength(1);
  });

  it("lists a live grant and revokes it, closing the firewall rules at once", async () => {
    const grant = await knockAs("alice");
    expect(grant.ports).toEqual(["tcp/22", "udp/51820"]);
    expect(await gw.firewall.list()).toHaveLength(2);

    const list = await request(admin).get("/grants").set(auth).expect(200);
    expect(list.body).toEqual({
      grants: [
        {
          door: TEST_DOOR,
          ip: "127.0.0.1",
          user: "alice",
          ports: ["tcp/22", "udp/51820"],
          grantedAt: expect.any(String) as string,
          expiresAt: grant.expiresAt,
          remainingSeconds: expect.any(Number) as number,
        },
      ],
    });
    const [first] = (list.body as { grants: { remainingSeconds: number }[] }).grants;
    expect(first?.remainingSeconds).toBeGreaterThan(50);
    expect(first?.remainingSeconds).toBeLessThanOrEqual(60);

    const revoked = await request(admin)
      .delete(`/grants/${TEST_DOOR}/127.0.0.1`)
      .set(auth)
      .expect(200);
    expect((revoked.body as { revoked: { user: string } }).revoked.user).toBe("alice");
    expect(await gw.firewall.list()).toEqual([]);
    expect((await request(admin).get("/grants").set(auth)).body).toEqual({ grants: [] });
    const audit = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit).toContainEqual(
      expect.objectContaining({ event: "revoke", door: TEST_DOOR, ip: "127.0.0.1", user: "alice" }),
    );
    await request(admin).delete(`/grants/${TEST_DOOR}/127.0.0.1`).set(auth).expect(404);
  });

  it("answers bad revoke input with 400, not 5xx", async () => {
    await request(admin).delete(`/grants/${TEST_DOOR}/not-an-ip`).set(auth).expect(400);
    await request(admin).delete("/grants/BAD%20DOOR/127.0.0.1").set(auth).expect(400);
    await request(admin).delete("/bans/999.1.1.1").set(auth).expect(400);
    await request(admin).get("/nothing").set(auth).expect(404);
  });

  it("lists bans and lifts one", async () => {
    const before = Date.now();
    await gw.store.ban("203.0.113.9", 120_000, "failures");
    const after = Date.now();
    await gw.store.ban("2001:db8::9", 60_000, "flood");
    const list = await request(admin).get("/bans").set(auth).expect(200);
    const bans = (list.body as { bans: { ip: string; reason: string; until: string }[] }).bans;
    expect(bans.map((b) => [b.ip, b.reason])).toEqual([
      ["2001:db8::/64", "flood"], // IPv6 bans cover the client's /64
      ["203.0.113.9", "failures"],
    ]);
    const until = Date.parse(bans[1]?.until ?? "");
    expect(until).toBeGreaterThanOrEqual(before + 120_000);
    expect(until).toBeLessThanOrEqual(after + 120_000);

    await request(admin)
      .delete("/bans/2001:db8::9")
      .set(auth)
      .expect(200, { unbanned: "2001:db8::9" });
    await request(admin).delete("/bans/2001:db8::9").set(auth).expect(404);
    const remaining = await request(admin).get("/bans").set(auth).expect(200);
    expect((remaining.body as { bans: unknown[] }).bans).toHaveLength(1);
    await gw.store.unban("203.0.113.9");
  });

  it("pages bans with limit and cursor, and refuses malformed ones with 400", async () => {
    const ips = Array.from({ length: 5 }, (_, i) => `198.51.100.${i + 1}`);
    for (const ip of ips) await gw.store.ban(ip, 60_000, "scanner");
    const seen: string[] = [];
    let cursor = "";
    for (let page = 0; page < 5; page++) {
      const res = await request(admin)
        .get(`/bans?limit=2${cursor ? `&cursor=${cursor}` : ""}`)
        .set(auth)
        .expect(200);
      const body = res.body as { bans: { ip: string }[]; nextCursor: string | null };
      expect(body.bans.length).toBeLessThanOrEqual(2);
      seen.push(...body.bans.map((b) => b.ip));
      if (body.nextCursor === null) break;
      cursor = body.nextCursor;
    }
    expect(seen.sort()).toEqual(ips);
    for (const query of ["limit=0", "limit=1001", "limit=x", "cursor=%%%", "cursor=bm90LWpzb24"])
      await request(admin).get(`/bans?${query}`).set(auth).expect(400);
    for (const ip of ips) await gw.store.unban(ip);
  });

  it("reports health with the store kind and firewall name", async () => {
    await request(admin)
      .get("/health")
      .set(auth)
      .expect(200, { status: "ok", store: "memory", firewall: "log" });
  });

  it("exports Prometheus counters after a knock", async () => {
    await knockAs("bob");
    await expect(
      knock({ url: gw.url, sequence: TEST_SEQUENCE, user: "bob", code: "000000" }),
    ).rejects.toMatchObject({ failure: "denied" });

    const res = await request(admin).get("/metrics").set(auth).expect(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    const text = res.text;
    expect(text).toMatch(/webknock_knock_steps_total\{door="ssh"\} \d+/);
    expect(text).toMatch(/webknock_challenges_total\{door="ssh"\} [2-9]/);
    expect(text).toMatch(/webknock_grants_total\{door="ssh"\} [1-9]/);
    expect(text).toMatch(/webknock_denials_total\{door="ssh",reason="(wrong-code|replay)"\} 1/);
    expect(text).toContain("webknock_open_grants 1");
    expect(text).toContain("webknock_bans 0");
    expect(text).toContain("webknock_store_up 1");
    expect(text).toMatch(
      /webknock_store_operation_seconds_count\{operation="advance",result="ok"\} \d+/,
    );
  });
});

describe("admin API with the store down", () => {
  it("answers health with 503 and lists with 503", async () => {
    const { MemoryStore } = await import("../../src/store/memory.js");
    const { StoreUnavailableError } = await import("../../src/errors.js");
    const store = new MemoryStore();
    const gw = await startListeningGateway({ admin: true, store });
    try {
      const down = () => Promise.reject(new StoreUnavailableError(new Error("down")));
      store.ping = down;
      store.listGrants = down;
      store.listBans = down;
      store.countBans = down;
      const admin = gw.adminUrl ?? "";
      await request(admin)
        .get("/health")
        .set(auth)
        .expect(503, { status: "unavailable", store: "memory", firewall: "log" });
      await request(admin).get("/grants").set(auth).expect(503);
      const metrics = await request(admin).get("/metrics").set(auth).expect(200);
      expect(metrics.text).toContain("webknock_store_up 0");
    } finally {
      await gw.stop();
    }
  });

  it("is off without an admin section", async () => {
    const gw = await startListeningGateway();
    try {
      expect(gw.adminUrl).toBeUndefined();
      expect(gw.gateway.metrics).toBeUndefined();
    } finally {
      await gw.stop();
    }
  });
});
