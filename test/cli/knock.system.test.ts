import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CliUsageError } from "../../src/cli/config-option.js";
import { AdminClient, AdminError } from "../../src/client/admin.js";
import { TransportError } from "../../src/client/http.js";
import { knock, KnockError } from "../../src/client/knock.js";
import { ClientConfigError } from "../../src/client/profiles.js";
import { WebknockError } from "../../src/errors.js";
import { currentTotp } from "../../src/knock/totp.js";
import { cli } from "../support/cli.js";
import { selfSigned } from "../support/cert.js";
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
        hosts: { local: "open" },
        close: { url: TEST_SEQUENCE[2], token: expect.stringMatching(/^[\w-]{43}$/) as string },
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
      code: "ERR_KNOCK_DENIED",
      message: expect.any(String) as string,
      fix: expect.any(String) as string,
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
    const certificate = await selfSigned(["localhost"]);
    const { cert, key } = certificate;
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
      certificate.remove();
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

describe("the knock client stays on the gateway's origin", () => {
  /** Two loopback listeners that only count requests: the gateway and another host. */
  let gateway: Counting;
  let evil: Counting;
  let dir: string;
  beforeAll(async () => {
    gateway = await counting();
    evil = await counting();
    dir = mkdtempSync(join(tmpdir(), "webknock-origin-"));
  });
  afterAll(async () => {
    await gateway.close();
    await evil.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hostile = () => [
    `/a,//127.0.0.1:${evil.port}/b`,
    `/a,/\\127.0.0.1:${evil.port}/b`,
    `/a,\\\\127.0.0.1:${evil.port}/b`,
    `/a,http://127.0.0.1:${evil.port}/b`,
    "/a,b",
    "/a,/b/../../c",
    "/a,/b?x=1",
    "/a,/b#c",
  ];

  it("refuses every path that is not exactly one leading / (exit 2), sending nothing", async () => {
    for (const sequence of hostile()) {
      const run = await cli([
        "knock",
        gateway.url,
        "-s",
        sequence,
        "-u",
        "alice",
        "--code",
        "123456",
      ]);
      expect(run.code, sequence).toBe(2);
      expect(run.stderr).toMatch(/^webknock: Sequence path .*one leading \//);
    }
    expect(gateway.requests).toEqual([]);
    expect(evil.requests).toEqual([]);
  });

  it("refuses them from a profile too", async () => {
    const config = join(dir, "client.yaml");
    writeFileSync(
      config,
      `profiles:\n  evil:\n    url: ${gateway.url}\n    sequence: ["/a", "//127.0.0.1:${evil.port}/b"]\n    user: alice\n`,
    );
    const run = await cli(["knock", "-p", "evil", "--client-config", config, "--code", "123456"]);
    expect(run.code).toBe(2);
    expect(evil.requests).toEqual([]);
    expect(gateway.requests).toEqual([]);
  });

  it("the library refuses, before sending, any request off the gateway's origin", async () => {
    for (const sequence of hostile()) {
      const attempt = knock({
        url: gateway.url,
        sequence: sequence.split(","),
        user: "alice",
        code: "123456",
      });
      await expect(attempt, sequence).rejects.toMatchObject({ failure: "invalid-request" });
    }
    expect(gateway.requests).toEqual([]);
    expect(evil.requests).toEqual([]);
  });
});

/** A loopback HTTP server that records each request's path and answers the decoy's 404. */
interface Counting {
  readonly url: string;
  readonly port: number;
  readonly requests: string[];
  close(): Promise<void>;
}

async function counting(): Promise<Counting> {
  const requests: string[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(req.url ?? "");
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

describe("client errors are coded WebknockErrors with a fix", () => {
  it.each([
    ["denied", "ERR_KNOCK_DENIED"],
    ["no-challenge", "ERR_KNOCK_NO_CHALLENGE"],
    ["unreachable", "ERR_KNOCK_UNREACHABLE"],
    ["tls", "ERR_KNOCK_TLS"],
    ["unavailable", "ERR_KNOCK_UNAVAILABLE"],
    ["protocol", "ERR_KNOCK_PROTOCOL"],
    ["invalid-request", "ERR_KNOCK_INVALID_REQUEST"],
  ] as const)("KnockError %s has code %s", (failure, code) => {
    const error = new KnockError(failure, "Something happened.");
    expect(error).toBeInstanceOf(WebknockError);
    expect(error.code).toBe(code);
    expect(error.fix).toMatch(/^[A-Z].{20,}\.$/);
    expect(error.describe()).toBe(`Something happened. ${error.fix ?? ""}`);
  });

  it.each([
    ["unauthorized", "ERR_ADMIN_UNAUTHORIZED"],
    ["not-found", "ERR_ADMIN_NOT_FOUND"],
    ["bad-request", "ERR_ADMIN_BAD_REQUEST"],
    ["unreachable", "ERR_ADMIN_UNREACHABLE"],
    ["unavailable", "ERR_ADMIN_UNAVAILABLE"],
    ["protocol", "ERR_ADMIN_PROTOCOL"],
  ] as const)("AdminError %s has code %s", (failure, code) => {
    const error = new AdminError(failure, "Something happened.");
    expect(error).toBeInstanceOf(WebknockError);
    expect(error.code).toBe(code);
    expect(error.fix).toMatch(/^[A-Z].{20,}\.$/);
  });

  it("transport, client config and usage errors are coded too", () => {
    expect(new TransportError("tls", "x")).toMatchObject({ code: "ERR_TLS" });
    expect(new TransportError("unreachable", "x")).toMatchObject({ code: "ERR_UNREACHABLE" });
    expect(new ClientConfigError("x")).toMatchObject({ code: "ERR_CLIENT_CONFIG" });
    expect(new CliUsageError("x")).toMatchObject({ code: "ERR_USAGE" });
    for (const error of [new TransportError("tls", "x"), new ClientConfigError("x")]) {
      expect(error).toBeInstanceOf(WebknockError);
      expect(error.fix).toBeDefined();
    }
  });

  it("an admin client on a URL that is not one fails with a coded error, not a TypeError", () => {
    expect(() => new AdminClient({ url: "not a url", token: "t" })).toThrow(AdminError);
  });

  it("prints code and fix in JSON and one line without a stack trace", async () => {
    const port = await closedPort();
    const run = await cli([
      "knock",
      `http://127.0.0.1:${port}`,
      "-s",
      "/a,/b",
      "-u",
      "alice",
      "--code",
      "123456",
      "--json",
    ]);
    expect(run.code).toBe(4);
    expect(JSON.parse(run.stdout)).toMatchObject({
      error: "unreachable",
      code: "ERR_KNOCK_UNREACHABLE",
      fix: expect.stringMatching(/gateway is running/) as string,
    });
    expect(run.stderr).toMatch(/^webknock: Cannot reach .* Check the URL and port.*\n$/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it("webknock demo --port abc is a usage error, not a crash", async () => {
    const run = await cli(["demo", "--port", "abc"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('webknock: --port "abc": write a port number from 0 to 65535.\n');
  });
});
