import { Agent, request } from "node:http";
import { generate } from "otplib";
import { BENCH_DOOR, BENCH_SEQUENCE, userName, userSecret } from "./config.js";
import { msSince } from "./stats.js";

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

interface Reply {
  readonly status: number;
  readonly body: string;
}

function send(
  url: string,
  method: "GET" | "POST",
  headers: Record<string, string>,
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent, timeout: 10_000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: text });
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** A TOTP code for bench user `user` at `epochMs`; computed before a knock is timed. */
export function codeFor(user: number, epochMs: number): Promise<string> {
  return generate({ secret: userSecret(user), epoch: Math.floor(epochMs / 1000) });
}

/**
 * One full knock as a client does it: GET every step (the last one asks for JSON and
 * gets a challenge), then POST challenge, user and code. `ip` is sent as X-Forwarded-For,
 * which a gateway trusting loopback takes as the client address. Resolves with the
 * milliseconds from the first GET to the grant; rejects unless the door opened.
 */
export async function knock(base: string, ip: string, user: number, code: string): Promise<number> {
  const headers = { "x-forwarded-for": ip, accept: "application/json" };
  const start = process.hrtime.bigint();
  let challenge = "";
  for (const path of BENCH_SEQUENCE) {
    const reply = await send(`${base}${path}`, "GET", headers);
    if (path === BENCH_SEQUENCE.at(-1)) {
      challenge = (JSON.parse(reply.body) as { challenge?: string }).challenge ?? "";
      if (reply.status !== 200 || challenge === "")
        throw new Error(`last step gave ${reply.status}, no challenge`);
    }
  }
  const payload = JSON.stringify({ challenge, user: userName(user), code });
  const last = BENCH_SEQUENCE.at(-1) ?? "";
  const reply = await send(
    `${base}${last}`,
    "POST",
    { ...headers, "content-type": "application/json" },
    payload,
  );
  if (reply.status !== 200 || !reply.body.includes('"granted"'))
    throw new Error(`door ${BENCH_DOOR} did not open for ${ip}: ${reply.status} ${reply.body}`);
  return msSince(start);
}

/** The n-th distinct client address of a run, 10.(base).x.y. */
export const clientIp = (base: number, n: number): string =>
  `10.${base}.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`;

/** Closes idle keep-alive sockets so the process can exit. */
export function closeClient(): void {
  agent.destroy();
}
