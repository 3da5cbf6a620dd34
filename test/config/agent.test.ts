import { describe, expect, it } from "vitest";
import { loadAgentConfig, resolveAgentConfig } from "../../src/config/agent.js";
import { resolveConfig } from "../../src/config/load.js";
import { testConfig } from "../support/gateway.js";

const agent = {
  agent: { name: "web1", ports: ["tcp/22"] },
  store: { redis: "redis://u:p@10.0.0.1:6379" },
  firewall: { backend: "nftables" },
};

describe("agent config", () => {
  it("takes the gateway's store and firewall forms", () => {
    const config = resolveAgentConfig(agent);
    expect(config).toMatchObject({
      name: "web1",
      ports: [{ proto: "tcp", port: 22 }],
      store: { redis: "redis://u:p@10.0.0.1:6379", keyPrefix: "wk:" },
      firewall: { backend: "nftables", table: "webknock", sweepIntervalMs: 1000 },
    });
  });

  it("names the key and the fix for each mistake", () => {
    expect(() =>
      resolveAgentConfig({ ...agent, agent: { name: "local", ports: ["tcp/22"] } }),
    ).toThrow(/agent\.name: .*"local" is the gateway's own host/);
    expect(() => resolveAgentConfig({ ...agent, store: {} })).toThrow(
      /store: .*an agent needs store\.redis/,
    );
    expect(() => resolveAgentConfig({ ...agent, agent: { name: "web1", ports: [] } })).toThrow(
      /agent\.ports: .*list the ports/,
    );
  });
});

describe("doors.X.hosts", () => {
  const raw = (hosts: unknown, redis?: string) => {
    const base = testConfig();
    return {
      ...(redis === undefined ? {} : { store: { redis } }),
      firewall: { backend: "log" },
      doors: { ssh: { sequence: ["/a/b"], open: ["tcp/22"], users: ["alice"], hosts } },
      users: { alice: { secret: base.users.get("alice")?.secret } },
    };
  };

  it("defaults to the gateway's own host and keeps named hosts once each", () => {
    expect(resolveConfig(raw(undefined)).doors[0]?.hosts).toBeUndefined();
    expect(resolveConfig(raw(["web1", "web1", "local"], "redis://r:6379")).doors[0]?.hosts).toEqual(
      ["web1", "local"],
    );
  });

  it("refuses agents' hosts without Redis, and bad names", () => {
    expect(() => resolveConfig(raw(["web1"]))).toThrow(
      /doors\.ssh\.hosts: \["web1"\] .*set store\.redis/,
    );
    expect(() => resolveConfig(raw(["Web 1"], "redis://r:6379"))).toThrow(
      /doors\.ssh\.hosts\.0|doors\.ssh\.hosts\[0\]/,
    );
    expect(resolveConfig(raw(["local"])).doors[0]?.hosts).toEqual(["local"]);
  });
});

describe("store.redis as a Sentinel group", () => {
  const withRedis = (redis: unknown) => ({ ...agent, store: { redis } });

  it("takes sentinels as host:port and a group name", () => {
    expect(
      resolveAgentConfig(
        withRedis({ sentinels: ["10.0.0.5:26379", "[fd00::5]:26379"], name: "wk" }),
      ).store.redis,
    ).toEqual({
      sentinels: [
        { host: "10.0.0.5", port: 26379 },
        { host: "fd00::5", port: 26379 },
      ],
      name: "wk",
    });
  });

  it("names the key and the fix for a bad sentinel", () => {
    expect(() => resolveAgentConfig(withRedis({ sentinels: ["10.0.0.5"], name: "wk" }))).toThrow(
      /store\.redis.*write host:port such as 10\.0\.0\.5:26379/s,
    );
  });
});

describe("the agent config file", () => {
  const yaml = `agent: { name: web1, ports: [tcp/22] }
store: { redis: "redis://u:p@10.0.0.1:6379" }
firewall: { backend: nftables }
`;
  const sources = (mode: number) => ({ env: {}, readFile: () => yaml, fileMode: () => mode });

  it("is read when only its owner may read it (it holds the Redis password)", () => {
    expect(loadAgentConfig("/etc/webknock/agent.yaml", sources(0o600)).name).toBe("web1");
  });

  it("is refused when group or others may read it, with the chmod to run", () => {
    expect(() => loadAgentConfig("/etc/webknock/agent.yaml", sources(0o644))).toThrow(
      /mode 0644.*chmod 600 \/etc\/webknock\/agent\.yaml/,
    );
  });
});
