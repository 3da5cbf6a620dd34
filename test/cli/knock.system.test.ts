import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { currentTotp } from "../../src/knock/totp.js";
import { cli } from "../support/cli.js";
import { startListeningGateway, TEST_SEQUENCE, type ListeningGateway } from "../support/gateway.js";

const SEQUENCE = TEST_SEQUENCE.join(",");
/** Every successful knock uses its own user: a TOTP code is good once per user and step. */
const USERS = ["alice", "bob", "carol", "dave", "erin", "zoe"];

describe("webknock knock", () => {
  let gw: ListeningGateway;
  let dir: string;
  const secretFile = (user: string) => join(dir, `${user}.secret`);

  beforeAll(async () => {
    gw = await startListeningGateway({ users: USERS });
    dir = mkdtempSync(join(tmpdir(), "webknock-knock-"));
    for (const [user, secret] of gw.secrets) writeFileSync(secretFile(user), `${secret}\n`);
  });
  afterAll(async () => {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("opens with a secret file and says what and until when", async () => {
    const run = await cli([
      "knock",
      gw.url,
      "--sequence",
      SEQUENCE,
      "--user",
      "alice",
      "--secret-file",
      secretFile("alice"),
    ]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /^Opened tcp\/22, udp\/51820 for 127\.0\.0\.1 \(door ssh\) for 60 s, until \d{4}-\d\d-\d\dT[\d:.]+Z\.\n$/,
    );
    expect(await gw.firewall.list()).toHaveLength(2);
  });

  it("prints JSON with --json", async () => {
    const run = await cli([
      "knock",
      gw.url,
      "-s",
      SEQUENCE,
      "-u",
      "bob",
      "--secret-file",
      secretFile("bob"),
      "--json",
    ]);
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout) as { granted: { expiresAt: string } };
    expect(out).toEqual({
      granted: {
        door: "ssh",
        ip: "127.0.0.1",
        ports: ["tcp/22", "udp/51820"],
        openFor: 60,
        expiresAt: expect.any(String) as string,
      },
    });
    expect(Date.parse(out.granted.expiresAt)).toBeGreaterThan(Date.now());
  });

  it("opens with --code", async () => {
    const code = await currentTotp(gw.secrets.get("carol") ?? "", Date.now());
    const run = await cli(["knock", gw.url, "-s", SEQUENCE, "-u", "carol", "--code", code]);
    expect(run.code).toBe(0);
  });

  it("opens with a profile from the client config", async () => {
    const configDir = join(dir, "xdg", "webknock");
    execFileSync("mkdir", ["-p", configDir]);
    writeFileSync(join(configDir, "dave.secret"), gw.secrets.get("dave") ?? "");
    writeFileSync(
      join(configDir, "client.yaml"),
      `profiles:\n  lab:\n    url: ${gw.url}\n    sequence: [${TEST_SEQUENCE.join(", ")}]\n    user: dave\n    secretFile: dave.secret\n`,
    );
    // Found through XDG_CONFIG_HOME; the secret path is relative to the config file.
    const run = await cli(["knock", "--profile", "lab", "--json"], {
      XDG_CONFIG_HOME: join(dir, "xdg"),
    });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ granted: { door: "ssh" } });

    const missing = await cli([
      "knock",
      "--profile",
      "nope",
      "--client-config",
      join(configDir, "client.yaml"),
    ]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Profile "nope" is not in');
  });

  it("exits 3 when the code is refused, with a JSON error", async () => {
    const good = await currentTotp(gw.secrets.get("erin") ?? "", Date.now());
    const wrong = good.replace(/^./, (d) => String((Number(d) + 1) % 10));
    const run = await cli([
      "knock",
      gw.url,
      "-s",
      SEQUENCE,
      "-u",
      "erin",
      "--code",
      wrong,
      "--json",
    ]);
    expect(run.code).toBe(3);
    expect(JSON.parse(run.stdout)).toEqual({
      error: "denied",
      message: expect.any(String) as string,
    });
    expect(run.stderr).toContain("Denied");
  });

  it("exits 3 when the sequence is wrong (no challenge)", async () => {
    const run = await cli([
      "knock",
      gw.url,
      "-s",
      [TEST_SEQUENCE[1], TEST_SEQUENCE[0], TEST_SEQUENCE[2]].join(","),
      "-u",
      "zoe",
      "--code",
      "123456",
    ]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("without a challenge");
  });

  it("exits 4 when nothing listens", async () => {
    const port = await closedPort();
    const run = await cli([
      "knock",
      `http://127.0.0.1:${port}`,
      "-s",
      SEQUENCE,
      "-u",
      "zoe",
      "--code",
      "123456",
      "--json",
    ]);
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: "unreachable" });
    expect(run.stderr).toContain("ECONNREFUSED");
  });

  it.each([
    ["no URL", ["knock", "-s", SEQUENCE, "-u", "a", "--code", "123456"]],
    ["a bad URL", ["knock", "gw.example", "-s", SEQUENCE, "-u", "a", "--code", "123456"]],
    ["ftp", ["knock", "ftp://gw.example", "-s", SEQUENCE, "-u", "a", "--code", "123456"]],
    ["no sequence", ["knock", "http://127.0.0.1:1", "-u", "a", "--code", "123456"]],
    ["a relative path", ["knock", "http://127.0.0.1:1", "-s", "a,/b", "-u", "a", "--code", "1"]],
    ["no user", ["knock", "http://127.0.0.1:1", "-s", SEQUENCE, "--code", "123456"]],
    ["no code", ["knock", "http://127.0.0.1:1", "-s", SEQUENCE, "-u", "a"]],
    ["a short code", ["knock", "http://127.0.0.1:1", "-s", SEQUENCE, "-u", "a", "--code", "12"]],
    [
      "a bad timeout",
      [
        "knock",
        "http://127.0.0.1:1",
        "-s",
        "/a",
        "-u",
        "a",
        "--code",
        "123456",
        "--timeout",
        "soon",
      ],
    ],
    [
      "a missing secret",
      ["knock", "http://127.0.0.1:1", "-s", "/a", "-u", "a", "--secret-file", "/nonexistent"],
    ],
    ["an unknown option", ["knock", "http://127.0.0.1:1", "--frobnicate"]],
  ])("exits 2 on %s", async (_name, argv) => {
    const run = await cli(argv);
    expect(run.code).toBe(2);
    expect(run.stderr).not.toBe("");
  });
});

describe("webknock knock against a gateway whose store is down", () => {
  it("exits 1 and says the gateway failed closed", async () => {
    const { MemoryStore } = await import("../../src/store/memory.js");
    const { StoreUnavailableError } = await import("../../src/errors.js");
    const store = new MemoryStore();
    store.advance = () => Promise.reject(new StoreUnavailableError(new Error("down")));
    const gw = await startListeningGateway({ store });
    try {
      const run = await cli([
        "knock",
        gw.url,
        "-s",
        SEQUENCE,
        "-u",
        "alice",
        "--code",
        "123456",
        "--json",
      ]);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toMatchObject({ error: "unavailable" });
    } finally {
      await gw.stop();
    }
  });
});

describe("webknock knock over IPv6 and HTTPS", () => {
  it("knocks a gateway on [::1]", async () => {
    const gw = await startListeningGateway({ users: ["v6"], host: "::1" });
    try {
      expect(gw.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
      const code = await currentTotp(gw.secrets.get("v6") ?? "", Date.now());
      const run = await cli([
        "knock",
        gw.url,
        "-s",
        SEQUENCE,
        "-u",
        "v6",
        "--code",
        code,
        "--json",
      ]);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ granted: { ip: "::1" } });
    } finally {
      await gw.stop();
    }
  });

  it("refuses a self-signed certificate (exit 4) unless --insecure", async () => {
    const dir = mkdtempSync(join(tmpdir(), "webknock-tls-"));
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
      ],
      { stdio: "ignore" },
    );
    const gw = await startListeningGateway({ users: ["tls"], tls: { cert, key } });
    try {
      expect(gw.url).toMatch(/^https:/);
      const strict = await cli(["knock", gw.url, "-s", SEQUENCE, "-u", "tls", "--code", "123456"]);
      expect(strict.code).toBe(4);
      expect(strict.stderr).toContain("--insecure");
      const code = await currentTotp(gw.secrets.get("tls") ?? "", Date.now());
      const run = await cli(["knock", gw.url, "-s", SEQUENCE, "-u", "tls", "--code", code, "-k"]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A loopback port nobody listens on: bind an ephemeral one, then release it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
  return port;
}
