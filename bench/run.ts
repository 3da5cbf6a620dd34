/** The whole benchmark: every section in order, one report. */
import { startRedisServer, type RedisServerHandle } from "../test/support/redis-server.js";
import { createNetns, deleteNetns, deleteStaleNetns } from "../test/support/netns.js";
import { benchParams } from "./config.js";
import { grantScale } from "./grant-scale.js";
import { closeClient } from "./knock-client.js";
import { knockLatency, knockUnderFlood } from "./knock-latency.js";
import { gatewayRss, redisMemory } from "./memory.js";
import { renderMarkdown, ROW_IDS, type Row } from "./report.js";
import { decoyThroughput, stepThroughput } from "./throughput.js";
import { fleetBench } from "./fleet.js";
import { openRoundTrips } from "./open-rtt.js";
import { tunnelThroughput } from "./tunnel.js";
import { upstreamProxy } from "./upstream.js";

const NOTES = [
  "Load: autocannon (CLI, its own process) with the same connections and duration for every server; each server runs in its own child process; runs alternate A B C A B C and the median is taken.",
  "Server CPU us/req (user+system time of the server process from /proc, divided by requests answered) is printed beside req/s; it is less sensitive to a client-bound or noisy run.",
  "On 2 shared cores the load generator, the server and Redis compete for CPU, and autocannon's JavaScript HTTP parser costs more per response header: absolute req/s are noisy and partly client-bound; the ratios are the figures to read.",
  "1.decoy compares against a raw node:http server that writes the very same decoy bytes (nginx's 404: Server, Date, Content-Type, Content-Length, Connection; same body) with no routing, so the ratio is webknock's routing and nginx-rule cost. 1.headers shows the decoy against a minimal 2-header 404 for context.",
  "2.step: every request is GET of step 0 from one loopback IP. The first hit sets progress to 1; every later one takes the script's 'repeat' branch (ban-key EXISTS and one GET inside Lua, no write). The baseline is a bare node:http handler that runs the same script with the same three keys, arguments and client options (one EVALSHA per request) and then writes the very decoy bytes webknock answers with (nginx's 5 headers, same body), as 1.decoy's baseline does, so the ratio is webknock's own cost. 2.headers shows the same baseline answering a minimal 2-header 404 instead, for context. (Earlier versions of this baseline sent a minimal 404, so the ratio also charged webknock for its security headers; and once the ban key was added to the script they still declared two keys, so Redis answered with a script error and the baseline sent a 503 with no body.) A throughput row says INVALID, and FAILs if it has a target, when any server answers another status or has errors.",
  "3 and 5: each knock uses a distinct user (a fresh TOTP step, so replay protection is not tripped) and a distinct client IP sent as X-Forwarded-For from loopback (trusted in the bench config). Time is measured from the first GET to the grant response and includes the client.",
  "4: grants are added with adapter.open (iptables: one iptables-restore of the same rule specs, since its open lists the whole chain and filling 10,000 one by one is quadratic); each timed open is of a new IP and is closed again untimed so the level stays put.",
  "10: time to open through a userspace delay proxy (test/support/delay-proxy.ts; the kernels here have no netem) adding 50 ms per direction and modelling the TCP handshake, so one round trip is 100 ms; plain HTTP (TLS 1.3 would add one round trip to every client alike). Figures are the median time divided by 100 ms, and the round trips counted from the proxy's capture (per connection: the handshake plus each flight of requests sent after an answer; connections summed, so Chromium's parallel connections over-count). CLI: the knock function `webknock knock` runs (pipelined GETs on one connection, then the POST). Keep-alive, sequential: one connection, each GET after the previous answer, then the form POST, as a phone following bookmarks. Chromium: headless /usr/bin/chromium via playwright-core, a fresh context per knock, page.goto per step, then the form.",
  "7: decoy: upstream. A 1 KiB page from a plain node:http site, fetched directly and through a webknock gateway with `decoy: upstream` (undici pool to the site), in alternated rounds; both servers run in their own processes, so the proxied figure also pays for the site. Added latency: one keep-alive connection, sequential GETs, blocks of 100 alternated, medians.",
  "8: fleet. Three agents, each its own process (the real FleetAgent, logged in as its own Redis ACL user) on a real kernel set in its own namespace (nftables, ipset, nftables); grants go through each agent's long-lived `nft -i` / `ipset -` session started in its namespace (as `webknock agent` runs them); one-shot commands (the resync's batch, list) go through `ip netns exec`, which a deployed agent does not pay. 8.latency: each grant is published as the gateway does (FleetPublisher: snapshot + XADD in one script), one every ~10 ms; the time is from just before the publish to when the agent's adapter.open returned (high-resolution epoch clocks of the two processes), and each element is then looked up in the kernel set (`nft get element` / `ipset test`). 8.resync: web1's agent is killed, its set emptied (a rebooted host), its host given the live grants, and a new agent process started; the time is agent.start() (base ruleset, snapshot, one `nft -f -` batch, confirmations) and the elements are counted in the kernel after. 8.stream: grants at a steady rate on one host with the retention scaled down from the hour to a few seconds; MEMORY USAGE of the stream (SAMPLES 0, exact) is sampled after each retention period, and bytes per event is that over XLEN.",
  "9: issue 12's tunnel. 9.tunnel: OpenSSH's client uploads the same bytes into `cat > /dev/null` on a test sshd on loopback (test/support/sshd.ts), directly and through the gateway's `ssh: true` route after one knock from 127.0.0.1, alternated rounds, medians (SKIPPED without root, sshd and ssh); every SSH row times the remote command (`date` before and after `cat`), so the handshake and a ProxyCommand's start are left out. 9.copy: bench/tcp-target.ts (connections open with an `SSH-` line, so the peek routes them to the tunnel; it reads into one reused buffer) takes the same upload directly, through the tunnel and through haproxy in TCP mode, alternated; the target is haproxy's throughput, the direct figure is for scale (INFO without haproxy). 9.ws and 9.sni: the same OpenSSH upload with `webknock tunnel` as the ProxyCommand, over the door's WebSocket path on the plain listener and over TLS with its SNI on a TLS listener (self-signed), against socat as the ProxyCommand straight to the same sshd (a relay process on ssh's pipes on both sides), alternated, medians (SKIPPED without root, sshd, ssh, socat and openssl). 9.latency: one connection each, 64-byte echoes, blocks of 200 alternated, p50 through the tunnel minus p50 direct. 9.decoy: section 1's load against the same gateway with and without a door tunnel (the connection router in front of the listener), alternated; no client holds a grant, so every connection is peeked and handed to the HTTP server.",
];

async function netnsAvailable(): Promise<boolean> {
  if (process.getuid?.() !== 0) return false;
  try {
    await deleteStaleNetns();
    await deleteNetns(await createNetns());
    return true;
  } catch {
    return false;
  }
}

/** Runs every section; returns the rows in ROW_IDS order. */
export async function runBench(options: {
  quick: boolean;
  redisPort: number;
  /** Section numbers to run (1-9); all when undefined. */
  only?: readonly number[];
  say: (line: string) => void;
}): Promise<{ rows: Row[]; markdown: string }> {
  const params = benchParams(options.quick);
  const { say } = options;
  let redis: RedisServerHandle | undefined;
  const rows: Row[] = [];
  try {
    redis = await startRedisServer(options.redisPort);
    const canNetns = await netnsAvailable();
    const want = (n: number): boolean => options.only === undefined || options.only.includes(n);
    if (want(1)) rows.push(...(await decoyThroughput(params, redis.url, say)));
    if (want(2)) rows.push(...(await stepThroughput(params, redis.url, say)));
    if (want(3)) rows.push(...(await knockLatency(params, redis.url, say, canNetns)));
    if (want(4)) rows.push(...(await grantScale(params, say, canNetns)));
    if (want(5)) rows.push(...(await knockUnderFlood(params, redis.url, say)));
    if (want(6)) rows.push(...(await redisMemory(params, redis.url, say)));
    if (want(6)) rows.push(...(await gatewayRss(params, say)));
    if (want(7)) rows.push(...(await upstreamProxy(params, say)));
    if (want(8)) rows.push(...(await fleetBench(params, redis.url, say, canNetns)));
    if (want(9)) rows.push(...(await tunnelThroughput(params, redis.url, say)));
    if (want(10)) rows.push(...(await openRoundTrips(params, redis.url, say)));
  } finally {
    closeClient();
    await redis?.stop();
  }
  const order = (row: Row): number => (ROW_IDS as readonly string[]).indexOf(row.id);
  rows.sort((a, b) => order(a) - order(b));
  const mode = options.quick ? "quick (CI smoke run; figures not meaningful)" : "full";
  return { rows, markdown: renderMarkdown(rows, mode, NOTES) };
}
