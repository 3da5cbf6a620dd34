import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { TLSSocket } from "node:tls";
import { execa } from "execa";
import { generateSecret } from "otplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../src/config/load.js";
import { LogFirewall } from "../../src/firewall/log.js";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { createLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { waitFor } from "../support/wait.js";

/**
 * Certificate renewal on a live HTTPS listener: files swapped under the gateway (as
 * certbot does) reach new handshakes, seen by `openssl s_client`, while a keep-alive
 * connection opened before keeps working; a broken pair is refused; minVersion TLSv1.3
 * turns a TLS 1.2-only client away.
 */
describe("TLS certificates, renewed live", () => {
  let dir = "";
  let gateway: Gateway;
  let port = 0;
  let logs = "";
  const live = () => join(dir, "live");
  const configPath = () => join(dir, "webknock.yaml");

  /** A self-signed P-256 certificate with a known subject and serial, in `dir/NAME.{crt,key}`. */
  const makeCert = (name: string, serial: string) =>
    execa("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", join(dir, `${name}.key`), "-out", join(dir, `${name}.crt`), "-days", "30",
      "-subj", `/CN=${name}.test`, "-set_serial", serial,
    ]); // prettier-ignore
  /** Installs a certificate and key the way certbot does: new files renamed over the old. */
  const install = (cert: string, key: string) => {
    writeFileSync(join(live(), ".cert.tmp"), readFileSync(join(dir, `${cert}.crt`)));
    writeFileSync(join(live(), ".key.tmp"), readFileSync(join(dir, `${key}.key`)), { mode: 0o600 });
    renameSync(join(live(), ".key.tmp"), join(live(), "key.pem"));
    renameSync(join(live(), ".cert.tmp"), join(live(), "cert.pem"));
  };
  const writeConfig = (minVersion: string) => {
    writeFileSync(
      configPath(),
      [
        "server:",
        "  listen:",
        `    - {host: 127.0.0.1, port: 0, tls: {cert: ${join(live(), "cert.pem")}, key: ${join(live(), "key.pem")}, minVersion: ${minVersion}}}`,
        "firewall: {backend: log}",
        "doors:",
        "  ssh: {sequence: [/t/1, /t/2], open: [tcp/22], users: [alice]}",
        `users: {alice: {secret: ${generateSecret()}}}`,
      ].join("\n"),
    );
  };
  /** What a NEW connection is served: the subject and serial, per `openssl s_client`. */
  const served = async (extra: string[] = []) => {
    const hello = await execa(
      "openssl",
      ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "knock.test", ...extra],
      { input: "", reject: false, timeout: 10_000 },
    );
    if (hello.exitCode !== 0) return { ok: false as const, output: hello.stdout + hello.stderr };
    const cert = await execa("openssl", ["x509", "-noout", "-subject", "-serial"], {
      input: hello.stdout,
    });
    return { ok: true as const, output: cert.stdout };
  };
  const count = (event: string) => logs.split(`"event":"${event}"`).length - 1;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "webknock-tls-reload-"));
    mkdirSync(live());
    await Promise.all([makeCert("alpha", "0x1001"), makeCert("beta", "0x2002")]);
    install("alpha", "alpha");
    writeConfig("TLSv1.2");
    const now = Date.now;
    const log = createLogger({
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          logs += chunk.toString();
          done();
        },
      }),
    });
    gateway = createGateway(loadConfigFile(configPath()), {
      log,
      now,
      store: new MemoryStore(now),
      firewall: new LogFirewall(() => undefined),
      loadConfig: () => loadConfigFile(configPath()),
    });
    const [url] = await gateway.start();
    port = Number(new URL(url ?? "").port);
  });
  afterAll(async () => {
    await gateway.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves a swapped certificate to new connections while an old one keeps working", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
    const get = (path: string) =>
      new Promise<{ status: number; reused: boolean; cn: unknown }>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path, agent }, (res) => {
          const { socket } = res;
          const cn = socket instanceof TLSSocket ? socket.getPeerCertificate().subject.CN : "";
          res.resume();
          res.on("end", () => {
            resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, cn });
          });
        });
        req.on("error", reject);
        req.end();
      });
    try {
      expect(await get("/before")).toEqual({ status: 404, reused: false, cn: "alpha.test" });
      expect((await served()).output).toMatch(/CN\s*=\s*alpha\.test[\s\S]*serial=1001/);

      install("beta", "beta");
      await waitFor("the new certificate is installed", () => count("tls-reloaded") === 1);
      expect((await served()).output).toMatch(/CN\s*=\s*beta\.test[\s\S]*serial=2002/);
      // The connection opened before the swap: same socket, old certificate, still served.
      expect(await get("/after")).toEqual({ status: 404, reused: true, cn: "alpha.test" });
    } finally {
      agent.destroy();
    }
  });

  it("refuses a certificate and key that do not match, keeping the served pair", async () => {
    install("alpha", "beta");
    await waitFor("the broken pair is refused", () => count("tls-refused") >= 1);
    expect(logs).toMatch(/"event":"tls-refused".*key values mismatch/);
    expect((await served()).output).toMatch(/serial=2002/);
    // A reload re-reads the certificates too, and refuses the whole config with them.
    const outcome = await gateway.reload();
    expect(outcome).toEqual({
      ok: false,
      problems: [
        expect.stringMatching(/^server\.listen\[0\]\.tls: .*not a usable certificate and key/),
      ],
    });
    expect((await served()).output).toMatch(/serial=2002/);
  });

  it("applies minVersion TLSv1.3 on reload: a TLS 1.2-only client is turned away", async () => {
    install("beta", "beta"); // the pair already served: nothing to swap
    expect((await served(["-tls1_2"])).ok).toBe(true);
    writeConfig("TLSv1.3");
    expect(await gateway.reload()).toMatchObject({ ok: true });
    const refused = await served(["-tls1_2"]);
    expect(refused.ok).toBe(false);
    expect(refused.output).toMatch(/alert|handshake failure|no protocols available/i);
    expect((await served(["-tls1_3"])).output).toMatch(/serial=2002/);
  });

  it("starts with minVersion TLSv1.3 too", async () => {
    writeConfig("TLSv1.3");
    const now = Date.now;
    const strict = createGateway(loadConfigFile(configPath()), {
      log: createLogger({ level: "silent" }),
      now,
      store: new MemoryStore(now),
      firewall: new LogFirewall(() => undefined),
    });
    const [url] = await strict.start();
    const main = port;
    port = Number(new URL(url ?? "").port);
    try {
      expect((await served(["-tls1_2"])).ok).toBe(false);
      expect((await served(["-tls1_3"])).output).toMatch(/serial=2002/);
    } finally {
      port = main;
      await strict.stop();
    }
  });
});
