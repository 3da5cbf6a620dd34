/**
 * Section 9's rows for the routes a 443-only network needs when plain SSH cannot pass
 * (an HTTP proxy, a CDN, a middlebox that wants TLS): 9.ws (WebSocket on `tunnel.path`)
 * and 9.sni (TLS with the door's SNI). OpenSSH uploads the same bytes into
 * `cat > /dev/null` with `webknock tunnel` as its ProxyCommand, against OpenSSH with
 * socat as its ProxyCommand straight to the same sshd, in alternated rounds; medians.
 *
 * Why socat and not direct SSH: both sides then have a relay process on ssh's pipes, so
 * the ratio is what the gateway's route and our client add over the cheapest such relay.
 * A ProxyCommand alone, even socat to the sshd itself, halves direct SSH's rate on
 * 2 shared cores (docs/performance.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { selfSigned } from "../test/support/cert.js";
import { startSshd } from "../test/support/sshd.js";
import {
  BENCH_SEQUENCE,
  BENCH_SNI,
  BENCH_TUNNEL_PATH,
  userName,
  userSecret,
  type BenchParams,
} from "./config.js";
import { freePort, startServer } from "./procs.js";
import { verdict, type Row } from "./report.js";
import { fmt } from "./stats.js";
import { alternatedUploads, installed, sshUpload } from "./tunnel-ssh.js";

/** The two routes, each knocked once by the client as its own bench user (a code is single-use). */
const ROUTES = [
  { id: "9.ws", profile: "ws", user: 998, name: "WebSocket route, plain HTTP listener" },
  { id: "9.sni", profile: "sni", user: 997, name: "TLS route with the door's SNI" },
] as const;

/** Each route's floor against the socat ProxyCommand. */
const TARGET = 0.6;

const CLI = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));

/** The client's profiles: `ws` on the plain listener's path, `sni` on the TLS listener. */
function writeClientConfig(dir: string, plainUrl: string, tlsPort: number): string {
  const profile = (route: (typeof ROUTES)[number], lines: string[]) => {
    writeFileSync(join(dir, `${route.profile}.secret`), userSecret(route.user), { mode: 0o600 });
    return [
      `  ${route.profile}:`,
      `    sequence: [${BENCH_SEQUENCE.join(", ")}]`,
      `    user: ${userName(route.user)}`,
      `    secretFile: ${route.profile}.secret`,
      ...lines.map((line) => `    ${line}`),
    ];
  };
  const [ws, sni] = ROUTES;
  const file = join(dir, "client.yaml");
  writeFileSync(
    file,
    [
      "profiles:",
      ...profile(ws, [`url: ${plainUrl}`, `tunnelPath: ${BENCH_TUNNEL_PATH}`]),
      ...profile(sni, [
        `url: https://127.0.0.1:${String(tlsPort)}`,
        `tunnelSni: ${BENCH_SNI}`,
        "insecure: true",
      ]),
      "",
    ].join("\n"),
  );
  return file;
}

/** 9.ws and 9.sni: OpenSSH through `webknock tunnel` against OpenSSH through socat. */
export async function routeThroughput(
  params: BenchParams,
  say: (line: string) => void,
): Promise<Row[]> {
  const what = (name: string) =>
    `Bulk upload over OpenSSH with webknock tunnel as ProxyCommand (${name}) vs socat as ProxyCommand straight to the same loopback sshd, MB/s (${fmt(params.tunnelBytes / 1e6)} MB per run)`;
  const needs = ["sshd", "ssh", "socat", "openssl"];
  const found = await Promise.all(needs.map(installed));
  if (process.getuid?.() !== 0 || found.includes(false)) {
    return ROUTES.map((r) => ({
      id: r.id,
      what: what(r.name),
      figure: `needs root and ${needs.join(", ")}`,
      verdict: "SKIPPED",
    }));
  }
  const sshd = await startSshd();
  const cert = await selfSigned([BENCH_SNI]);
  const dir = mkdtempSync(join(tmpdir(), "wk-bench-routes-"));
  try {
    const tlsPort = await freePort();
    const gateway = await startServer("webknock-tunnel", `127.0.0.1:${String(sshd.port)}`, [
      String(tlsPort),
      cert.cert,
      cert.key,
    ]);
    try {
      const config = writeClientConfig(dir, gateway.url, tlsPort);
      // The ProxyCommand compiles TypeScript as it starts: more than ssh's usual 5 s when loaded.
      const options = sshd
        .sshOptions()
        .map((o) => (o.startsWith("ConnectTimeout=") ? "ConnectTimeout=60" : o));
      const via = (command: string) => [...options, "-o", `ProxyCommand=${command}`];
      const client = `${process.execPath} --import tsx ${CLI} tunnel --client-config ${config} --profile`;
      // A ProxyCommand ignores the port.
      const paths = [
        { label: "ssh via socat", command: `socat - TCP:127.0.0.1:${String(sshd.port)}` },
        ...ROUTES.map((r) => ({
          label: `ssh via ${r.profile}`,
          command: `${client} ${r.profile}`,
        })),
      ].map(({ label, command }) => ({ label, options: via(command), port: 22 }));
      // The grant cache lives here: the first run of each route knocks and is not measured.
      const env = { XDG_STATE_HOME: join(dir, "state") };
      for (const path of paths) await sshUpload(path.options, path.port, 1, env);
      const [socat = Number.NaN, ...routes] = await alternatedUploads(paths, params, say, env);
      return ROUTES.map((r, i) => {
        const rate = routes[i] ?? Number.NaN;
        return {
          id: r.id,
          what: what(r.name),
          figure: `${fmt(rate)} vs ${fmt(socat)} MB/s`,
          ratio: `${fmt(rate / socat, 2)}x`,
          target: `>= ${fmt(TARGET, 2)}x`,
          verdict: verdict(rate / socat >= TARGET),
        };
      });
    } finally {
      await gateway.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    cert.remove();
    await sshd.stop();
  }
}
