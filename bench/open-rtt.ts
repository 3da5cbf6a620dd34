import { Agent, request } from "node:http";
import { chromium, type Browser } from "playwright-core";
import { generate } from "otplib";
import { knock } from "../src/client/knock.js";
import { resolveConfig } from "../src/config/load.js";
import { createGateway } from "../src/gateway.js";
import { silentLogger } from "../src/log.js";
import { systemClock } from "../src/clock.js";
import { countRoundTrips, startDelayProxy, type DelayProxy } from "../test/support/delay-proxy.js";
import { userSecret, type BenchParams } from "./config.js";
import type { Row } from "./report.js";
import { fmt, median } from "./stats.js";

/** The added delay per direction: a 100 ms round trip, as issue 12 asks (netem 50 ms). */
const DELAY_MS = 50;
const RTT_MS = 2 * DELAY_MS;
const CHROMIUM = "/usr/bin/chromium";
/** Sequence lengths compared: the default door's and a long one. */
const LENGTHS = [3, 8] as const;
/** Users o0.. with secrets unlike the other sections'; each knock takes a fresh one (TOTP replay). */
const USERS = 100;
const user = (i: number) => `o${i}`;
const secret = (i: number) => userSecret(10_000 + i);

const paths = (steps: number) =>
  Array.from({ length: steps }, (_, i) => `/r${steps}/${i === steps - 1 ? "knock" : `s${i}.png`}`);

/** One client's way to open: resolves once the grant is in, having used `proxy`'s URL. */
type Opener = (
  base: string,
  sequence: readonly string[],
  user: string,
  code: string,
) => Promise<void>;

/** The CLI's knock (the function `webknock knock` runs): pipelined GETs, then the POST. */
const cli: Opener = async (base, sequence, name, code) => {
  await knock({ url: base, sequence, user: name, code });
};

/**
 * A browser-like client without a browser: one keep-alive connection, each GET after the
 * previous answer (a phone following bookmarks), then the form POST.
 */
const sequential: Opener = async (base, sequence, name, code) => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let body = "";
    for (const path of sequence) body = await send(agent, `${base}${path}`, "GET");
    const challenge = /name="challenge" value="([^"]+)"/.exec(body)?.[1] ?? "";
    const form = new URLSearchParams({ challenge, user: name, code }).toString();
    const answer = await send(agent, `${base}${sequence.at(-1) ?? ""}`, "POST", form);
    if (!answer.includes('class="ok"')) throw new Error("the sequential client was not granted");
  } finally {
    agent.destroy();
  }
};

function send(agent: Agent, url: string, method: "GET" | "POST", form?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: "text/html" };
    if (form !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
    const req = request(url, { method, agent, headers, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        resolve(text);
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on("error", reject);
    req.end(form);
  });
}

/** Chromium, headless, following the bookmarks and submitting the form (a fresh context each time). */
function chromiumOpener(browser: Browser): Opener {
  return async (base, sequence, name, code) => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      for (const path of sequence) await page.goto(`${base}${path}`);
      await page.fill("#user", name);
      await page.fill("#code", code);
      await Promise.all([
        page.waitForSelector("h1.ok", { timeout: 10_000 }),
        page.click("button[type=submit]"),
      ]);
    } finally {
      await context.close();
    }
  };
}

/** Item 10: time to open under an added 50 ms each way, in round trips, per client and length. */
export async function openRoundTrips(
  params: BenchParams,
  redisUrl: string,
  say: (line: string) => void,
): Promise<Row[]> {
  say("8. time to open, in round trips at +50 ms each way");
  const users: Record<string, { secret: string }> = {};
  for (let i = 0; i < USERS; i++) users[user(i)] = { secret: secret(i) };
  const doors = Object.fromEntries(
    LENGTHS.map((n) => [
      `r${n}`,
      { sequence: paths(n), open: ["tcp/2222"], openFor: "10m", users: Object.keys(users) },
    ]),
  );
  const config = resolveConfig(
    {
      server: { listen: [{ host: "127.0.0.1", port: 8080 }] },
      store: { redis: redisUrl, keyPrefix: "wkb-rtt:" },
      firewall: { backend: "log" },
      doors,
      users,
    },
    { env: {}, readFile: () => "" },
    "the round-trip benchmark config",
  );
  const gateway = createGateway(
    {
      ...config,
      server: { ...config.server, listen: config.server.listen.map((l) => ({ ...l, port: 0 })) },
    },
    { log: silentLogger(), now: systemClock },
  );
  const [url] = await gateway.start();
  let browser: Browser | undefined;
  let delayed: DelayProxy | undefined;
  let direct: DelayProxy | undefined;
  let next = 0;
  const runs = params.quick ? 1 : 3;
  try {
    const port = Number(new URL(url ?? "").port);
    delayed = await startDelayProxy(port, DELAY_MS);
    // The same proxy with no delay: what each client costs locally (Chromium renders,
    // the machine is shared), subtracted so only the round trips remain.
    direct = await startDelayProxy(port, 0);
    const clients: [string, Opener][] = [
      ["CLI (pipelined)", cli],
      ["keep-alive, sequential", sequential],
    ];
    try {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      });
      clients.push(["Chromium", chromiumOpener(browser)]);
    } catch (error) {
      say(
        `   Chromium not available (${error instanceof Error ? error.message.split("\n")[0] : String(error)})`,
      );
    }
    const time = async (proxy: DelayProxy, open: Opener, steps: number) => {
      const i = next++;
      const code = await generate({ secret: secret(i), epoch: Math.floor(Date.now() / 1000) });
      proxy.chunks.length = 0;
      const started = performance.now();
      await open(`http://127.0.0.1:${proxy.port}`, paths(steps), user(i), code);
      return { ms: performance.now() - started, count: countRoundTrips(proxy.chunks) };
    };
    const figures: string[] = [];
    const cliCounts: number[] = [];
    for (const [name, open] of clients) {
      // Quick (CI) runs only count round trips: no warm-up, no undelayed runs, no timed figure.
      if (!params.quick) await time(direct, open, LENGTHS[0]); // warm-up: JIT, Redis connection
      const parts: string[] = [];
      for (const steps of LENGTHS) {
        const slow: number[] = [];
        const fast: number[] = [];
        const counts: number[] = [];
        for (let r = 0; r < runs; r++) {
          if (!params.quick) fast.push((await time(direct, open, steps)).ms);
          const run = await time(delayed, open, steps);
          slow.push(run.ms);
          counts.push(run.count);
        }
        const timed =
          fast.length === 0
            ? "timed: not in quick runs"
            : `timed: ${fmt((median(slow) - median(fast)) / RTT_MS, 1)}, ${fmt(median(slow), 0)} - ${fmt(median(fast), 0)} ms`;
        if (name.startsWith("CLI")) cliCounts.push(median(counts));
        parts.push(`${steps} steps ${median(counts)} RT (${timed})`);
      }
      figures.push(`${name}: ${parts.join(", ")}`);
      say(`   ${name}: ${parts.join(", ")}`);
    }
    const same = cliCounts.length === LENGTHS.length && cliCounts.every((c) => c === cliCounts[0]);
    return [
      {
        id: "10.open",
        what: `Time to open (plain HTTP, connect to grant) at +${DELAY_MS} ms each way, in round trips counted from the delay proxy's capture; "timed" is (median time delayed - median time undelayed) / ${RTT_MS} ms, noisy on shared cores`,
        figure: figures.join("; "),
        target: "CLI: same round trips for 3 and 8 steps, 3 in all",
        verdict: same && cliCounts[0] === 3 ? "PASS" : "FAIL",
      },
    ];
  } finally {
    await browser?.close();
    await delayed?.close();
    await direct?.close();
    await gateway.stop();
  }
}
