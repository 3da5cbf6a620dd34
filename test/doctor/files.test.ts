import { describe, expect, it } from "vitest";
import { certificateCheck, fileModesCheck, secretFiles } from "../../src/doctor/files.js";
import type { FileStat } from "../../src/doctor/types.js";
import { contextFor, rawConfig } from "./support.js";

const raw = {
  ...rawConfig("log", ["tcp/22"]),
  users: { alice: { secretFile: "/etc/webknock/alice.totp" }, bob: { secretEnv: "BOB" } },
  doors: {
    ssh: { sequence: ["/a"], open: ["tcp/22"], users: ["alice"] },
    api: {
      sequence: { rotate: "10m", steps: 3, keyFile: "/etc/webknock/api.seqkey" },
      open: ["tcp/443"],
      users: ["alice"],
    },
  },
  admin: { tokenFile: "/etc/webknock/admin.token" },
  server: { listen: [{ host: "0.0.0.0", port: 443, tls: { cert: "/c.pem", key: "/k.pem" } }] },
};

describe("the file checks", () => {
  it("finds every secret file the config names", () => {
    expect(secretFiles(raw).map((f) => `${f.key}=${f.path}`)).toEqual([
      "users.alice.secretFile=/etc/webknock/alice.totp",
      "doors.api.sequence.keyFile=/etc/webknock/api.seqkey",
      "admin.tokenFile=/etc/webknock/admin.token",
      "server.listen[0].tls.key=/k.pem",
    ]);
  });

  it("wants owner-only modes and names the chmod", async () => {
    const modes: Record<string, FileStat> = {
      "/etc/webknock/alice.totp": { mode: 0o600, uid: 0 },
      "/etc/webknock/api.seqkey": { mode: 0o640, uid: 0 },
      "/etc/webknock/admin.token": { mode: 0o644, uid: 0 },
    };
    const ctx = contextFor(rawConfig("log", ["tcp/22"]), () => Promise.reject(new Error("none")), {
      raw,
      stat: (path) => modes[path],
    });
    const found = await fileModesCheck.run(ctx);
    expect(found.map((f) => f.severity)).toEqual(["ok", "problem", "problem", "problem"]);
    expect(found[1]?.fix).toBe(
      "chmod 600 /etc/webknock/api.seqkey (owned by the user webknock runs as).",
    );
    expect(found[2]?.fix).toBe(
      "chmod 600 /etc/webknock/admin.token (owned by the user webknock runs as).",
    );
    expect(found[3]?.summary).toContain("/k.pem does not exist");
  });

  it("reports an unreadable certificate as a problem", async () => {
    const ctx = contextFor(rawConfig("log", ["tcp/22"]), () => Promise.reject(new Error("none")), {
      raw,
      readFile: () => Buffer.from("not a certificate"),
    });
    const [finding] = await certificateCheck.run(ctx);
    expect(finding?.severity).toBe("problem");
    expect(finding?.summary).toContain("server.listen[0].tls.cert");
  });
});
