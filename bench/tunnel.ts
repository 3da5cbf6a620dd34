/**
 * Section 9 (issue 12): the tunnel through port 443. Same run, side by side:
 * - OpenSSH through the tunnel against OpenSSH direct (bench/tunnel-ssh.ts, 9.tunnel);
 * - OpenSSH through `webknock tunnel` over the WebSocket and SNI routes against OpenSSH
 *   through socat (bench/tunnel-routes.ts, 9.ws and 9.sni);
 * - raw bulk upload through the gateway's `ssh: true` route against haproxy in front of
 *   the same target (bench/tcp-target.ts) and against a direct connection to it,
 *   alternated rounds, medians (9.copy);
 * - p50 time of a small-message round trip through the tunnel against direct, in
 *   alternated blocks on one connection each: the difference is the added latency;
 * - decoy 404 throughput of a gateway whose listener has the connection router (a door
 *   with a tunnel) against one without, with autocannon as section 1 does.
 */
import { connect, type Socket } from "node:net";
import type { BenchParams } from "./config.js";
import { startServer } from "./procs.js";
import { verdict, type Row } from "./report.js";
import { fmt, median } from "./stats.js";
import { checked, compare, ratioRow } from "./throughput.js";
import { routeThroughput } from "./tunnel-routes.js";
import { grantTunnel, sshThroughput, startHaproxy } from "./tunnel-ssh.js";

/** Bytes per write of the bulk upload. */
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
/** Round-trip message size: a keystroke-sized SSH packet. */
const PING = Buffer.alloc(64, 0x62);
/**
 * Rounds of the router-on/off comparison: at least four, and an even number. Its target
 * is a 5 % difference, and a single pair of 1-s runs on 2 shared cores spreads further
 * than that even between two identical servers. Even, because the rounds alternate
 * (off on, on off, ...): req/s drifts upwards over the rounds on a loaded machine (1 s of
 * warm-up is not enough for the JIT there), and with an even count and compare()'s
 * middle-two median neither side's median sits later in that drift than the other's.
 */
function decoyRounds(params: BenchParams): number {
  const rounds = Math.max(params.rounds, 4);
  return rounds + (rounds % 2);
}

/** Opens a connection to `hostPort` and sends the target's first line. */
function open(hostPort: string, line: string): Promise<Socket> {
  const [host = "", port = ""] = hostPort.replace(/^\w+:\/\//, "").split(":");
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), noDelay: true });
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.write(`SSH-2.0-wkbench ${line}\r\n`);
      resolve(socket);
    });
  });
}

/** Uploads `bytes` (with backpressure) and resolves with MB/s once the target confirms. */
async function bulk(hostPort: string, bytes: number): Promise<number> {
  const socket = await open(hostPort, `sink ${bytes}`);
  const started = process.hrtime.bigint();
  const confirmed = new Promise<void>((resolve, reject) => {
    socket.once("data", () => {
      resolve();
    });
    socket.once("close", () => {
      reject(new Error(`${hostPort} closed before the upload was confirmed`));
    });
  });
  for (let sent = 0; sent < bytes; sent += CHUNK.length) {
    const last = Math.min(CHUNK.length, bytes - sent);
    if (!socket.write(last === CHUNK.length ? CHUNK : CHUNK.subarray(0, last))) {
      await new Promise((resolve) => socket.once("drain", resolve));
    }
  }
  await confirmed;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.destroy();
  return bytes / 1e6 / seconds;
}

/** One echo connection: `rtt()` sends PING and resolves with ms until it is all back. */
async function echoSession(hostPort: string) {
  const socket = await open(hostPort, "echo");
  let waiting: { left: number; started: bigint; resolve: (ms: number) => void } | undefined;
  socket.on("data", (chunk: Buffer) => {
    if (waiting === undefined) return;
    waiting.left -= chunk.length;
    if (waiting.left <= 0) {
      const { started, resolve } = waiting;
      waiting = undefined;
      resolve(Number(process.hrtime.bigint() - started) / 1e6);
    }
  });
  return {
    rtt: () =>
      new Promise<number>((resolve) => {
        waiting = { left: PING.length, started: process.hrtime.bigint(), resolve };
        socket.write(PING);
      }),
    close: () => socket.destroy(),
  };
}

export async function tunnelThroughput(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Row[]> {
  say("9. tunnel through 443");
  const rows: Row[] = [await sshThroughput(params, say), ...(await routeThroughput(params, say))];
  const target = await startServer("tcp-target");
  const gateway = await startServer("webknock-tunnel", target.url).catch(async (error: unknown) => {
    await target.stop();
    throw error;
  });
  const haproxy = await startHaproxy(target.url);
  try {
    await grantTunnel(gateway.url);
    const paths = [
      { label: "direct", to: target.url },
      { label: "tunnel", to: gateway.url },
      ...(haproxy === undefined ? [] : [{ label: "haproxy", to: haproxy.url }]),
    ];
    const rate = new Map<string, number[]>(paths.map((p) => [p.label, []]));
    if (!params.quick) for (const p of paths) await bulk(p.to, params.tunnelBytes / 4);
    for (let round = 0; round < params.rounds; round++) {
      for (const p of paths) {
        const mbs = await bulk(p.to, params.tunnelBytes);
        rate.get(p.label)?.push(mbs);
        say(`  round ${round + 1} ${p.label}: ${fmt(mbs)} MB/s`);
      }
    }
    rows.push(copyRow(params, rate));
    const sessions = await Promise.all(paths.slice(0, 2).map((p) => echoSession(p.to)));
    const rtts = sessions.map(() => [] as number[]);
    try {
      for (const s of sessions) for (let i = 0; i < 50; i++) await s.rtt();
      for (let block = 0; block < params.tunnelBlocks; block++) {
        for (const [i, s] of sessions.entries()) {
          for (let n = 0; n < 200; n++) rtts[i]?.push(await s.rtt());
        }
      }
    } finally {
      for (const s of sessions) s.close();
    }
    const [d50, t50] = rtts.map((list) => median(list));
    const added = (t50 ?? Number.NaN) - (d50 ?? Number.NaN);
    rows.push({
      id: "9.latency",
      what: "Added p50 round trip through the tunnel, 64-byte messages on one connection (vs direct)",
      figure: `+${fmt(added, 3)} ms (p50 ${fmt(t50 ?? Number.NaN, 3)} vs ${fmt(d50 ?? Number.NaN, 3)} ms, n=${rtts[0]?.length ?? 0} each)`,
      target: "<= 0.200 ms",
      verdict: verdict(added <= 0.2),
    });
  } finally {
    await haproxy?.stop();
    await gateway.stop();
    await target.stop();
  }
  const decoy = await compare(
    [
      { label: "router-off", kind: "webknock", path: "/wp-login.php", status: 404 },
      { label: "router-on", kind: "webknock-mux", path: "/wp-login.php", status: 404 },
    ],
    { ...params, rounds: decoyRounds(params) },
    redisUrl,
    say,
  );
  const row = ratioRow(decoy);
  return [
    ...rows,
    ...checked(decoy, [
      row(
        "9.decoy",
        "Decoy 404 req/s with the connection router on the listener (a door with a tunnel) vs without",
        "router-on",
        "router-off",
        0.95,
      ),
    ]),
  ];
}

/**
 * 9.copy: the tunnel's raw copy against haproxy's, both in front of the same target; the
 * direct figure shows what any relay costs on loopback (it does both ends' system calls
 * on the same two cores). Without haproxy, the figures alone (INFO).
 */
function copyRow(params: BenchParams, rate: ReadonlyMap<string, number[]>): Row {
  const [direct, tunnel, haproxy] = ["direct", "tunnel", "haproxy"].map((label) => {
    const rates = rate.get(label);
    return rates === undefined ? undefined : median(rates);
  });
  const ofDirect = (mbs: number) => `${fmt(mbs / (direct ?? Number.NaN), 2)}x of direct`;
  const what = `Raw bulk upload through the tunnel's copy vs haproxy (TCP mode) in front of the same target, MB/s (${fmt(params.tunnelBytes / 1e6)} MB per run; direct to the target for scale)`;
  const tunnelMbs = tunnel ?? Number.NaN;
  if (haproxy === undefined) {
    return {
      id: "9.copy",
      what,
      figure: `${fmt(tunnelMbs)} MB/s (${ofDirect(tunnelMbs)}; direct ${fmt(direct ?? Number.NaN)}); haproxy not installed`,
      verdict: "INFO",
    };
  }
  return {
    id: "9.copy",
    what,
    figure: `${fmt(tunnelMbs)} vs ${fmt(haproxy)} MB/s (direct ${fmt(direct ?? Number.NaN)}: tunnel ${ofDirect(tunnelMbs)}, haproxy ${ofDirect(haproxy)})`,
    ratio: `${fmt(tunnelMbs / haproxy, 2)}x`,
    target: ">= 0.80x",
    verdict: verdict(tunnelMbs / haproxy >= 0.8),
  };
}
