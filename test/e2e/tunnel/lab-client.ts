import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Netns, NetnsAgent } from "../../support/netns.js";
import { cliArgs, knockFrom, type KnockResult } from "../../support/netns-gateway.js";
import { LAB, type Lab } from "./lab.js";
import { runIn, startIn, type Ran, type Running } from "./lab-run.js";

/**
 * What a client in the lab does: knock (the HTTP helper, the `webknock knock` CLI, or a
 * phone in Chromium), ssh through one of the gateway's routes on port 443, and, as the
 * operator, revoke a grant through the admin API.
 */

const WS_PROXY = fileURLToPath(new URL("./ws-proxy.js", import.meta.url));
const PHONE = fileURLToPath(new URL("./phone-knock.js", import.meta.url));

/**
 * How ssh reaches sshd through the gateway's port 443:
 * - `plain`: `ssh -p 443` to the plain listener (the door's `tunnel.ssh: true`);
 * - `plain-tls`: `ssh -p 443` to the TLS listener (its peek sees `SSH-` before any TLS);
 * - `sni`: `openssl s_client -servername` as ProxyCommand (SSH inside TLS, `tunnel.sni`);
 * - `ws`: a WebSocket on `tunnel.path` as ProxyCommand (test/e2e/tunnel/ws-proxy.js);
 * - `cli-ws`, `cli-sni`: `webknock tunnel --ws` or `--sni` as ProxyCommand, which knocks
 *   by itself (as `user`) unless its grant cache holds a live grant.
 */
export type Route = "plain" | "plain-tls" | "sni" | "ws" | "cli-ws" | "cli-sni";
/** The routes a client must knock for first. */
export const ROUTES: readonly Route[] = ["plain", "plain-tls", "sni", "ws"];

/** `webknock tunnel` from source (tsx), as ProxyCommand text (ssh runs it with its shell). */
function tunnelCli(lab: Lab, how: string[], user: string): string {
  const args = ["tunnel", `https://${LAB.tlsHost}`, "--insecure", ...how];
  args.push("--sequence", LAB.sequence.join(","), "--user", user);
  args.push("--secret-file", lab.secretFile(user));
  return [process.execPath, ...cliArgs(...args)].join(" ");
}

function routeArgs(lab: Lab, route: Route, user: string): string[] {
  switch (route) {
    case "plain":
      return ["-p", "443", `root@${LAB.plainHost}`];
    case "plain-tls":
      return ["-p", "443", `root@${LAB.tlsHost}`];
    case "sni":
      return [
        "-o",
        `ProxyCommand=openssl s_client -quiet -verify_quiet -connect ${LAB.tlsHost}:443 -servername ${LAB.sni}`,
        "root@gw.test",
      ];
    case "ws":
      return [
        "-o",
        `ProxyCommand=${process.execPath} ${WS_PROXY} wss://${LAB.tlsHost}${LAB.wsPath}`,
        "root@gw.test",
      ];
    case "cli-ws":
      return ["-o", `ProxyCommand=${tunnelCli(lab, ["--ws", LAB.wsPath], user)}`, "root@gw.test"];
    case "cli-sni":
      return ["-o", `ProxyCommand=${tunnelCli(lab, ["--sni", LAB.sni], user)}`, "root@gw.test"];
  }
}

/**
 * ssh argv (no config file, no host key prompts, no agent) for `command` over `route`;
 * `user` is who `webknock tunnel` knocks as. The connect timeout also bounds the banner
 * exchange, which includes the ProxyCommand's start (tsx compiling on a busy machine).
 */
export function sshArgs(lab: Lab, route: Route, command: string, user = ""): string[] {
  return [
    ...["-F", "/dev/null", "-i", lab.userKey, "-o", "IdentitiesOnly=yes"],
    ...["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"],
    ...["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30"],
    ...routeArgs(lab, route, user),
    command,
  ];
}

/** Starts ssh from `ns` over `route`, running `command` on the gateway's sshd. */
export function sshStart(
  lab: Lab,
  ns: Netns,
  route: Route,
  command: string,
  { timeoutMs = 15_000, user = "" }: { timeoutMs?: number; user?: string } = {},
): Running {
  // webknock tunnel keeps its grant cache under XDG_STATE_HOME: the lab's, not the host's.
  const env = { ...process.env, XDG_STATE_HOME: join(lab.dir, "state") };
  const args = sshArgs(lab, route, command, user);
  return startIn(lab.children, ns, "ssh", args, { timeoutMs, env });
}

/** Runs ssh to its end; see sshStart. */
export function ssh(
  lab: Lab,
  ns: Netns,
  route: Route,
  command = "echo ok",
  options: { timeoutMs?: number; user?: string } = {},
): Promise<Ran> {
  return sshStart(lab, ns, route, command, options).done;
}

/** A knock over plain HTTP with the namespace's HTTP helper (fast: no process start). */
export function knockWith(lab: Lab, agent: NetnsAgent, user: string): Promise<KnockResult> {
  return knockFrom(
    agent,
    `http://${LAB.plainHost}:443`,
    LAB.sequence,
    user,
    lab.secrets[user] ?? "",
  );
}

/** `webknock knock https://TLS-HOST -k ...` from `ns`, as a user would type it. */
export function knockCli(lab: Lab, ns: Netns, user: string): Promise<Ran> {
  const args = ["knock", `https://${LAB.tlsHost}`, "--insecure", "--json"];
  args.push("--sequence", LAB.sequence.join(","), "--user", user);
  args.push("--secret-file", lab.secretFile(user));
  return runIn(lab.children, ns, process.execPath, cliArgs(...args), { timeoutMs: 30_000 });
}

/** What the phone flow reported (see phone-knock.js). */
export interface PhoneKnock {
  readonly steps?: number[];
  readonly status?: number;
  readonly h1?: string;
  readonly ip?: string | null;
  /** Milliseconds to launch Chromium, and for the whole flow. */
  readonly launchedMs?: number;
  readonly ms?: number;
  readonly error?: string;
}

/**
 * The phone flow in Chromium, run inside `ns`, against the TLS listener. Resolves as soon
 * as the result page is shown (the browser closes in the background), so what follows
 * runs while the grant is fresh, as a user would type `ssh` right after.
 */
export async function knockPhone(lab: Lab, ns: Netns, user: string): Promise<PhoneKnock> {
  const body = { base: `https://${LAB.tlsHost}`, sequence: LAB.sequence, user };
  const input = JSON.stringify({ ...body, secret: lab.secrets[user] });
  const running = startIn(lab.children, ns, process.execPath, [PHONE, input], {
    timeoutMs: 45_000,
  });
  const line = () =>
    running
      .stdout()
      .split("\n")
      .find((l) => l.startsWith("{"));
  let ended: Ran | undefined;
  void running.done.then((ran) => (ended = ran));
  const deadline = Date.now() + 45_000;
  while (line() === undefined && ended === undefined && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const found = line();
  if (found !== undefined) return JSON.parse(found) as PhoneKnock;
  return { error: `no answer from the phone: ${ended?.stderr ?? "timed out"}` };
}

/** DELETE /grants/ssh/IP on the admin API (from the gateway's own namespace); the status. */
export async function revoke(lab: Lab, ip: string): Promise<number | undefined> {
  const reply = await lab.agentGw.http(`${LAB.adminUrl}/grants/${LAB.door}/${ip}`, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${lab.adminToken}` },
  });
  return reply.ok ? reply.status : undefined;
}
