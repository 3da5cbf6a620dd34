import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { generateSecret } from "otplib";
import {
  connectNetns,
  createNetns,
  deleteNetns,
  deleteStaleNetns,
  spawnInNetns,
  startAgent,
  type Netns,
  type NetnsAgent,
} from "../../support/netns.js";
import { startNetnsGateway, type NetnsGateway } from "../../support/netns-gateway.js";
import { waitFor } from "../../support/wait.js";
import { tracked, type Children } from "./lab-run.js";

/**
 * The tunnel lab (issue 12): a gateway namespace and two client namespaces, each joined to
 * the gateway by a veth pair. The gateway runs a real OpenSSH sshd on its own 127.0.0.1:22
 * and `webknock serve` on two "public" addresses held on its loopback, TLS on 10.201.0.1:443
 * and plain on 10.201.0.2:443. The clients reach those through their veth, and their own
 * egress (nftables OUTPUT, policy drop) lets out only tcp/443: the network users behind
 * such a firewall live in. Client A knocks; client B (another IP) never holds a grant.
 */

/** Fixed facts of the lab, as the clients see them. */
export const LAB = {
  tlsHost: "10.201.0.1",
  plainHost: "10.201.0.2",
  sni: "ssh.gw.test",
  wsPath: "/t/9f2c1e4b",
  door: "ssh",
  sequence: ["/img/a81f3c.png", "/p/2021/b7d2e4", "/s/c9e044.css"],
  adminUrl: "http://127.0.0.1:9090",
} as const;

/** Users of the door: every knock in a file takes a fresh one, so no TOTP code is replayed. */
export const LAB_USERS = Array.from({ length: 16 }, (_, i) => `u${i + 1}`);

/** Namespaces, veth names and nothing else on the host start with this. */
const PREFIX = "mxe";

/** Everything a tunnel test needs; built by createLab, torn down by destroyLab. */
export interface Lab {
  readonly gw: Netns;
  readonly a: Netns;
  readonly b: Netns;
  /** Client A's and client B's own addresses (what the gateway sees). */
  readonly ipA: string;
  readonly ipB: string;
  /** HTTP helpers in each namespace (the gateway's one calls the admin API on its loopback). */
  readonly agentGw: NetnsAgent;
  readonly agentA: NetnsAgent;
  readonly agentB: NetnsAgent;
  /** Temporary directory: keys, certificate, configs, secrets. */
  readonly dir: string;
  /** The ssh client key sshd accepts for root. */
  readonly userKey: string;
  readonly cert: string;
  readonly key: string;
  readonly adminToken: string;
  /** Base32 TOTP secret per user, and the file holding it (mode 0600). */
  readonly secrets: Readonly<Record<string, string>>;
  secretFile(user: string): string;
  /** Every child process a test started through the lab (killed by destroyLab). */
  readonly children: Children;
  /** sshd's log so far (LogLevel VERBOSE: one "Connection from" line per TCP connection). */
  sshdLog(): string;
  /** TCP connections sshd has accepted so far. */
  sshdConnections(): number;
  /** Logins sshd has let in so far (a key accepted: the session is up). */
  sshdLogins(): number;
  /** The running gateway, once startLabGateway was called. */
  gateway: NetnsGateway | undefined;
}

const sh = async (file: string, args: readonly string[]): Promise<void> => {
  const result = await execa(file, [...args], { reject: false, timeout: 15_000 });
  if (result.exitCode !== 0) throw new Error(`${file} ${args.join(" ")}: ${result.stderr}`);
};

/** nftables for a client namespace: new traffic out only to tcp/443 (and loopback). */
const EGRESS = `table inet mxe_egress {
  chain out {
    type filter hook output priority 0; policy drop;
    oif "lo" accept
    tcp dport 443 accept
  }
}
`;

const sshdConfig = (dir: string): string => `ListenAddress 127.0.0.1:22
HostKey ${dir}/host_key
AuthorizedKeysFile ${dir}/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PidFile none
LogLevel VERBOSE
`;

/** Starts sshd in `gw` and waits until it listens. */
async function startSshd(gw: Netns, dir: string, children: Children): Promise<() => string> {
  // sshd refuses to start without its privilege separation directory; Debian's unit makes it.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, "sshd_config"), sshdConfig(dir));
  const child = tracked(
    children,
    spawnInNetns(gw, "/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], {
      stdio: ["ignore", "ignore", "pipe"],
    }),
  );
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  await waitFor("sshd listening", () => log.includes("Server listening on"), {
    timeoutMs: 10_000,
  }).catch((error: unknown) => {
    throw new Error(`${String(error)}; sshd said: ${log}`);
  });
  return () => log;
}

/** Keys, certificate, admin token and user secrets in a fresh temporary directory. */
async function makeFiles(dir: string): Promise<Record<string, string>> {
  for (const name of ["host_key", "user_key"]) {
    await sh("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "mxe", "-f", join(dir, name)]);
  }
  await sh("cp", [join(dir, "user_key.pub"), join(dir, "authorized_keys")]);
  await sh("openssl", [
    ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
    ...["-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "2"],
    ...["-subj", "/CN=gw.test", "-addext", `subjectAltName=DNS:gw.test,DNS:${LAB.sni}`],
  ]);
  const secrets: Record<string, string> = {};
  for (const user of LAB_USERS) {
    secrets[user] = generateSecret();
    writeFileSync(join(dir, `${user}.secret`), `${secrets[user]}\n`, { mode: 0o600 });
  }
  return secrets;
}

/** Builds the lab; on any failure tears down what it had built and rethrows. */
export async function createLab(): Promise<Lab> {
  await deleteStaleNetns();
  const dir = mkdtempSync(join(tmpdir(), "webknock-mxe-"));
  const children: Children = new Set();
  const spaces: Netns[] = [];
  const agents: NetnsAgent[] = [];
  const lab: Partial<Lab> = { dir, children };
  try {
    const secrets = await makeFiles(dir);
    const gw = await createNetns(PREFIX);
    spaces.push(gw);
    const a = await createNetns(PREFIX);
    spaces.push(a);
    const b = await createNetns(PREFIX);
    spaces.push(b);
    const linkA = await connectNetns(gw, a, 1, PREFIX);
    const linkB = await connectNetns(gw, b, 2, PREFIX);
    await gw.exec("ip", ["addr", "add", `${LAB.tlsHost}/32`, "dev", "lo"]);
    await gw.exec("ip", ["addr", "add", `${LAB.plainHost}/32`, "dev", "lo"]);
    for (const [ns, link] of [
      [a, linkA],
      [b, linkB],
    ] as const) {
      await ns.exec("ip", ["route", "add", "10.201.0.0/24", "via", link.a4]);
      await ns.exec("nft", ["-f", "-"], EGRESS);
    }
    const adminToken = generateSecret();
    writeFileSync(join(dir, "admin.token"), `${adminToken}\n`, { mode: 0o600 });
    const sshdLog = await startSshd(gw, dir, children);
    for (const ns of [gw, a, b]) agents.push(await startAgent(ns));
    const [agentGw, agentA, agentB] = agents as [NetnsAgent, NetnsAgent, NetnsAgent];
    return Object.assign(lab, {
      dir,
      children,
      gw,
      a,
      b,
      ipA: linkA.b4,
      ipB: linkB.b4,
      agentGw,
      agentA,
      agentB,
      userKey: join(dir, "user_key"),
      cert: join(dir, "cert.pem"),
      key: join(dir, "key.pem"),
      adminToken,
      secrets,
      secretFile: (user: string) => join(dir, `${user}.secret`),
      sshdLog,
      sshdConnections: () => (sshdLog().match(/^Connection from /gm) ?? []).length,
      sshdLogins: () => (sshdLog().match(/^Accepted publickey for root /gm) ?? []).length,
      gateway: undefined,
      spaces,
      agents,
    });
  } catch (error) {
    await destroyLab(Object.assign(lab, { spaces, agents }));
    throw error;
  }
}

/** Writes `config` and starts `webknock serve` with it in the gateway namespace. */
export async function startLabGateway(lab: Lab, config: string): Promise<NetnsGateway> {
  const file = join(lab.dir, "webknock.yaml");
  writeFileSync(file, config);
  await lab.gateway?.stop("SIGKILL");
  lab.gateway = await startNetnsGateway(lab.gw, file);
  return lab.gateway;
}

/** Kills everything the lab started and deletes its namespaces and files; never throws. */
export async function destroyLab(lab: Partial<Lab> | undefined): Promise<void> {
  if (lab === undefined) return;
  const extra = lab as { spaces?: Netns[]; agents?: NetnsAgent[] };
  await lab.gateway?.stop("SIGKILL").catch(() => undefined);
  for (const child of lab.children ?? []) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  for (const agent of extra.agents ?? []) await agent.stop().catch(() => undefined);
  await deleteNetns(...(extra.spaces ?? []));
  if (lab.dir !== undefined) rmSync(lab.dir, { recursive: true, force: true });
}
