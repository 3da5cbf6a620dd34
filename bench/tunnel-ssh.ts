/**
 * Section 9's throughput rows:
 * - 9.tunnel: the service the tunnel exists for. OpenSSH uploads the same bytes into
 *   `cat > /dev/null` on a loopback sshd (test/support/sshd.ts), directly and through the
 *   gateway's plain SSH route, in alternated rounds; medians.
 * - the reference relay for 9.copy: haproxy in TCP mode in front of the same raw target,
 *   when it is installed (scripts/ensure-system-deps.sh installs it).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { startSshd } from "../test/support/sshd.js";
import { waitFor } from "../test/support/wait.js";
import type { BenchParams } from "./config.js";
import { codeFor, knock } from "./knock-client.js";
import { freePort, startServer, stopChild } from "./procs.js";
import { verdict, type Row } from "./report.js";
import { fmt, median } from "./stats.js";

/** A bench user no other section takes, for the one knock that grants a tunnel. */
const TUNNEL_USER = 999;

/** Knocks once on `gatewayUrl` from 127.0.0.1, which grants its door's tunnel. */
export async function grantTunnel(gatewayUrl: string): Promise<void> {
  await knock(gatewayUrl, "127.0.0.1", TUNNEL_USER, await codeFor(TUNNEL_USER, Date.now()));
}

/** The port of a `scheme://host:port` or `host:port`. */
const portOf = (url: string): number => Number(url.replace(/\/+$/, "").split(":").pop());

export async function installed(command: string): Promise<boolean> {
  const found = await execa("sh", ["-c", `command -v ${command}`], { reject: false });
  return found.exitCode === 0;
}

/**
 * One `ssh ... 'cat > /dev/null'` fed `bytes` zeros by `head`; resolves with MB/s. The
 * time is the remote command's, from its start to the end of its input: the bulk rate
 * alone, without the SSH handshake or a ProxyCommand's start (10.open measures opening).
 * `head` writes into ssh's stdin directly (a shell pipe): no relay through this process.
 */
export async function sshUpload(
  options: string[],
  port: number,
  bytes: number,
  env: NodeJS.ProcessEnv = {},
): Promise<number> {
  const remote = "date +%s%N; cat > /dev/null; date +%s%N";
  const ssh = [...options, "-p", String(port), "root@127.0.0.1", remote];
  const { stdout } = await execa(
    "sh",
    ["-c", 'head -c "$0" /dev/zero | exec ssh "$@"', String(bytes), ...ssh],
    { timeout: 120_000, env },
  );
  const [started, ended] = stdout.trim().split("\n").map(BigInt);
  if (started === undefined || ended === undefined || ended <= started) {
    throw new Error(`ssh printed no start and end times: ${JSON.stringify(stdout)}`);
  }
  return bytes / 1e6 / (Number(ended - started) / 1e9);
}

/** One way for OpenSSH to reach the sshd: its options (a ProxyCommand, say) and port. */
export interface SshPath {
  readonly label: string;
  readonly options: string[];
  readonly port: number;
}

/**
 * `params.rounds` alternated rounds of one sshUpload through each path (`env` for ssh and
 * its ProxyCommand); resolves with each path's median MB/s, in order.
 */
export async function alternatedUploads(
  paths: readonly SshPath[],
  params: BenchParams,
  say: (line: string) => void,
  env: NodeJS.ProcessEnv = {},
): Promise<number[]> {
  const rates = paths.map(() => [] as number[]);
  for (let round = 0; round < params.rounds; round++) {
    for (const [i, path] of paths.entries()) {
      const mbs = await sshUpload(path.options, path.port, params.tunnelBytes, env);
      rates[i]?.push(mbs);
      say(`  round ${String(round + 1)} ${path.label}: ${fmt(mbs)} MB/s`);
    }
  }
  return rates.map(median);
}

/** 9.tunnel: OpenSSH through the tunnel against OpenSSH direct, to the same sshd. */
export async function sshThroughput(
  params: BenchParams,
  say: (line: string) => void,
): Promise<Row> {
  const what = `Bulk upload over OpenSSH through the tunnel (plain SSH route) vs direct to the same loopback sshd, MB/s (${fmt(params.tunnelBytes / 1e6)} MB per run into cat > /dev/null)`;
  if (process.getuid?.() !== 0 || !(await installed("sshd")) || !(await installed("ssh"))) {
    return { id: "9.tunnel", what, figure: "needs root, sshd and ssh", verdict: "SKIPPED" };
  }
  const sshd = await startSshd();
  try {
    const gateway = await startServer("webknock-tunnel", `127.0.0.1:${String(sshd.port)}`);
    try {
      await grantTunnel(gateway.url);
      const options = sshd.sshOptions();
      const [direct = Number.NaN, tunnel = Number.NaN] = await alternatedUploads(
        [
          { label: "ssh direct", options, port: sshd.port },
          { label: "ssh tunnel", options, port: portOf(gateway.url) },
        ],
        params,
        say,
      );
      return {
        id: "9.tunnel",
        what,
        figure: `${fmt(tunnel)} vs ${fmt(direct)} MB/s`,
        ratio: `${fmt(tunnel / direct, 2)}x`,
        target: ">= 0.80x",
        verdict: verdict(tunnel / direct >= 0.8),
      };
    } finally {
      await gateway.stop();
    }
  } finally {
    await sshd.stop();
  }
}

/** haproxy relaying TCP from its own port to `to` (host:port); undefined if not installed. */
export async function startHaproxy(
  to: string,
): Promise<{ url: string; stop(): Promise<void> } | undefined> {
  if (!(await installed("haproxy"))) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "wk-haproxy-"));
  const config = join(dir, "haproxy.cfg");
  writeFileSync(
    config,
    [
      "global",
      "  maxconn 64",
      "defaults",
      "  mode tcp",
      "  timeout connect 5s",
      "  timeout client 60s",
      "  timeout server 60s",
      "listen relay",
      `  bind 127.0.0.1:${String(port)}`,
      `  server target ${to}`,
      "",
    ].join("\n"),
  );
  const child = spawn("haproxy", ["-f", config, "-db"], { stdio: "ignore" });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const probe = connect({ host: "127.0.0.1", port }, () => {
        probe.destroy();
        resolve(true);
      });
      probe.once("error", () => {
        resolve(false);
      });
    });
  await waitFor("haproxy to listen", listening, { timeoutMs: 10_000, intervalMs: 100 });
  return {
    url: `127.0.0.1:${String(port)}`,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
