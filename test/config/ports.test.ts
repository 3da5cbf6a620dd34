import { describe, expect, it } from "vitest";
import { uniquePorts } from "../../src/config/ports.js";

describe("uniquePorts", () => {
  it("keeps the first of each proto/port pair, in order, and tells tcp from udp", () => {
    const specs = [
      { proto: "tcp", port: 22, from: "ssh" },
      { proto: "udp", port: 22, from: "ssh" },
      { proto: "tcp", port: 22, from: "web" },
      { proto: "tcp", port: 443, from: "web" },
    ] as const;
    expect(uniquePorts(specs).map((s) => `${s.proto}/${s.port} ${s.from}`)).toEqual([
      "tcp/22 ssh",
      "udp/22 ssh",
      "tcp/443 web",
    ]);
    expect(uniquePorts([])).toEqual([]);
  });
});
