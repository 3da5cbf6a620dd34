import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { describeChanges, restartOnlyChanges } from "../../src/reload/diff.js";

const ALICE = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const BOB = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U";

type Door = Record<string, unknown>;

/** The raw config shape these tests edit. */
interface Raw {
  server: {
    listen: Record<string, unknown>[];
    decoy?: string;
    upstream?: string;
    trustProxy?: string[];
  };
  store: Record<string, unknown>;
  firewall: Record<string, unknown>;
  doors: { ssh?: Door; web: Door; api?: Door };
  users: { alice: Door; bob: Door };
  limits?: Record<string, unknown>;
}

/** The same config twice, the second with `change` applied to its raw form. */
function configs(change: (raw: Raw) => void) {
  const raw = (): Raw => ({
    server: { listen: [{ host: "127.0.0.1", port: 8080 }] },
    store: { keyPrefix: "wk:" },
    firewall: { backend: "log" },
    doors: {
      ssh: { sequence: ["/a/1", "/a/2"], open: ["tcp/22"], users: ["alice"] },
      web: { sequence: ["/w/1"], open: ["tcp/443"], users: ["alice", "bob"] },
    },
    users: { alice: { secret: ALICE }, bob: { secret: BOB } },
  });
  const next = raw();
  change(next);
  const sources = { env: {}, readFile: () => "" };
  return [resolveConfig(raw(), sources), resolveConfig(next, sources)] as const;
}

describe("what a reload may change", () => {
  it("takes doors, users, limits and trustProxy live", () => {
    const [old, next] = configs((raw) => {
      raw.doors.web.sequence = ["/w/2", "/w/3"];
      delete raw.doors.ssh;
      raw.doors.api = { sequence: ["/x/1"], open: ["tcp/8443"], users: ["bob"] };
      raw.users.bob = { secret: ALICE };
      raw.limits = { maxFailures: 9 };
      raw.server.trustProxy = ["loopback"];
    });
    expect(restartOnlyChanges(old, next)).toEqual([]);
    expect(describeChanges(old, next)).toEqual([
      "doors added: api",
      "doors removed: ssh",
      "doors changed: web",
      "users changed: bob",
      "limits changed",
      "server.trustProxy changed",
    ]);
    expect(describeChanges(old, old)).toEqual([]);
  });

  it("names every key that needs a restart, never a Redis password", () => {
    const [old, next] = configs((raw) => {
      raw.server.listen = [{ host: "0.0.0.0", port: 8443, tls: { cert: "/c", key: "/k" } }];
      raw.server.decoy = "upstream";
      raw.server.upstream = "http://127.0.0.1:9000";
      raw.store = { redis: "redis://:hunter2@127.0.0.1:6379", keyPrefix: "other:" };
      raw.firewall = { backend: "nftables" };
    });
    const problems = restartOnlyChanges(old, next);
    expect(problems.map((p) => p.split(":")[0])).toEqual([
      "server.listen[0].host",
      "server.listen[0].port",
      "server.listen[0].tls",
      "server.decoy",
      "server.upstream",
      "store.redis",
      "store.keyPrefix",
      "firewall",
    ]);
    expect(problems[1]).toBe(
      "server.listen[0].port: changed from 8080 to 8443; this needs a restart (systemctl restart webknock); the reload changed nothing",
    );
    expect(problems.join("\n")).not.toContain("hunter2");
  });

  it("needs a restart for another number of listeners and for the admin listener", () => {
    const [old, next] = configs((raw) => {
      raw.server.listen.push({ host: "127.0.0.1", port: 8081 });
    });
    expect(restartOnlyChanges(old, next)).toEqual([
      expect.stringMatching(/^server\.listen: 2 listener\(s\), 1 before; this needs a restart/),
    ]);
  });
});
