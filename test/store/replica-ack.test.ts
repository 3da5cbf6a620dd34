import { describe, expect, it } from "vitest";
import { testConfig } from "../support/gateway.js";
import {
  DEFAULT_REPLICA_ACK,
  replicaAckPolicy,
  replicaCover,
} from "../../src/store/replica-ack.js";

/** CLUSTER NODES as redis-server 7 prints it: 3 masters, a replica for two of them. */
const NODES = [
  "a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460",
  "b2 127.0.0.1:7002@17002 master - 0 1 2 connected 5461-10922",
  "c3 127.0.0.1:7003@17003 master - 0 1 3 connected 10923-16383",
  "d4 127.0.0.1:7004@17004 slave a1 0 1 1 connected",
  "e5 127.0.0.1:7005@17005 slave b2 0 1 2 connected",
  "f6 127.0.0.1:7006@17006 master,fail - 0 1 4 disconnected",
  "",
].join("\n");

describe("replicaCover", () => {
  it("names the masters serving slots, and those without a replica", () => {
    expect(replicaCover(NODES)).toEqual({
      masters: ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"],
      bare: ["127.0.0.1:7003"],
    });
  });

  it("ignores a failed replica: its master counts as bare", () => {
    const failed = NODES.replace("slave a1", "slave,fail a1");
    expect(replicaCover(failed).bare).toEqual(["127.0.0.1:7001", "127.0.0.1:7003"]);
  });
});

describe("replicaAckPolicy", () => {
  const sentinel = { sentinels: [{ host: "10.0.0.5", port: 26379 }], name: "wk" };
  const cluster = { cluster: [{ host: "10.0.0.5", port: 7000 }] };

  it("waits for one replica through Sentinel, decides from the slot map on a Cluster, not on one node", () => {
    expect(replicaAckPolicy(sentinel, undefined)).toEqual(DEFAULT_REPLICA_ACK);
    expect(replicaAckPolicy(cluster, undefined)).toBe("auto");
    expect(replicaAckPolicy("redis://127.0.0.1:6379", undefined)).toBe("off");
  });

  it("takes the operator's setting over any default", () => {
    expect(replicaAckPolicy(sentinel, "off")).toBe("off");
    const two = { replicas: 2, timeoutMs: 50 };
    expect(replicaAckPolicy("redis://127.0.0.1:6379", two)).toBe(two);
  });
});

describe("store config for a Cluster and replica acknowledgement", () => {
  it("reads cluster nodes and replicaAck, with defaults for a bare object", () => {
    const config = testConfig({
      store: { redis: { cluster: ["10.0.0.5:7000", "[fd00::6]:7000"] }, replicaAck: {} },
    });
    expect(config.store.redis).toEqual({
      cluster: [
        { host: "10.0.0.5", port: 7000 },
        { host: "fd00::6", port: 7000 },
      ],
    });
    expect(config.store.replicaAck).toEqual({ replicas: 1, timeoutMs: 200 });
    const off = testConfig({ store: { redis: "redis://127.0.0.1:6379", replicaAck: false } });
    expect(off.store.replicaAck).toBe("off");
  });

  it("refuses replicaAck without Redis, naming the fix", () => {
    expect(() => testConfig({ store: { replicaAck: { replicas: 1 } } })).toThrow(
      /store\.replicaAck: the in-memory store has no replicas to wait for; set store\.redis or remove replicaAck/,
    );
  });
});
