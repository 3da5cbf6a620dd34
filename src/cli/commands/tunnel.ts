import type { Duplex, Readable } from "node:stream";
import type { Command } from "commander";
import { GrantCache, grantCacheDir } from "../../client/grant-cache.js";
import { TransportError } from "../../client/http.js";
import { knock, KnockError, type KnockRequest } from "../../client/knock.js";
import { firstReply } from "../../client/first-reply.js";
import { pipeTunnel } from "../../client/pipe.js";
import type { KnockProfile } from "../../client/profiles.js";
import { openTunnel, TunnelRefusedError, type TunnelRoute } from "../../client/tunnel.js";
import { isKnockPath, KNOCK_PATH_FIX } from "../../config/names.js";
import { WebknockError } from "../../errors.js";
import { CliUsageError, EXIT, ExitError } from "../config-option.js";
import type { CliDeps } from "../deps.js";
import { resolveKnock, withKnockOptions, type KnockOptions } from "../knock-request.js";
import { describeGrant, FAILURE_EXIT } from "./knock.js";

interface TunnelOptions extends KnockOptions {
  ws?: string;
  sni?: string;
  knock?: boolean;
}

/** A DNS name as SNI carries it (RFC 6066: no IP literals, no trailing dot). */
const SNI_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * `webknock tunnel`: knock when no live grant is cached, open the tunnel through the
 * gateway's port, pipe stdin/stdout. Made for ssh's ProxyCommand; stdout carries the
 * target's bytes and nothing else, everything for people goes to stderr.
 */
export function registerTunnelCommands(program: Command, deps: CliDeps): void {
  withKnockOptions(
    program
      .command("tunnel")
      .description(
        "knock if needed, then pipe stdin/stdout through the gateway's port to the door's tunnel target (ssh ProxyCommand)",
      ),
  )
    .option("--ws <path>", "WebSocket tunnel on the door's tunnel.path (profile: tunnelPath)")
    .option("--sni <name>", "TLS tunnel with the door's tunnel.sni (profile: tunnelSni)")
    .option("--knock", "knock even when a cached grant is still live")
    .action(async (url: string | undefined, options: TunnelOptions) => {
      const io = deps.io;
      if (io === undefined) throw new CliUsageError("webknock tunnel needs stdin and stdout.");
      const { request, profile } = resolveKnock(url, options, deps);
      const route = resolveRoute(options, profile);
      try {
        const { tunnel, first } = await knockAndOpen(
          request,
          route,
          options.knock === true,
          deps,
          io.input,
        );
        if (first.length > 0) io.output.write(first);
        await pipeTunnel(tunnel, io.input, io.output);
      } catch (error) {
        throw new ExitError(exitFor(error, deps));
      }
    });
}

/**
 * Opens the tunnel under the cached grant, or after a knock. Knows a grant is live from
 * the grant cache (the gateway's own answer, kept in a 0600 file); a tunnel the gateway
 * refuses anyway (a revoke, a new address) gets one knock and one more try. The WebSocket
 * route is refused at the upgrade; the TLS route by the web app's answer to the client's
 * first bytes (firstReply), which are sent again on the new tunnel. Resolves with the
 * tunnel and the service's first bytes, already read.
 */
async function knockAndOpen(
  request: KnockRequest & { readonly url: string; readonly timeoutMs: number },
  route: TunnelRoute,
  forceKnock: boolean,
  deps: CliDeps,
  input: Readable,
): Promise<{ tunnel: Duplex; first: Buffer }> {
  const identity = JSON.stringify({
    origin: new URL(request.url).origin,
    door:
      "key" in request.sequence
        ? Buffer.from(request.sequence.key).toString("hex")
        : request.sequence,
  });
  const cache = new GrantCache(grantCacheDir(deps.env), identity);
  // An object, not a `let`: the closure sets it, and TypeScript would narrow a `let` to false.
  const state = { knocked: false };
  const knockNow = async () => {
    const grant = await knock(request);
    cache.save(grant);
    state.knocked = true;
    deps.stderr.write(`webknock: ${describeGrant(grant)}`);
  };
  if (forceKnock || cache.live(deps.now()) === undefined) await knockNow();
  const open = async (replay: Buffer) => {
    const tunnel = await openTunnel({
      url: new URL(request.url),
      route,
      insecure: request.insecure,
      proxy: request.proxy,
      timeoutMs: request.timeoutMs,
    });
    const first = route.kind === "sni" ? await firstReply(tunnel, input, replay) : NOTHING;
    return { tunnel, first };
  };
  try {
    return await open(NOTHING);
  } catch (error) {
    if (!(error instanceof TunnelRefusedError) || state.knocked) throw error;
    // Bytes sent on a refused TLS tunnel past what firstReply keeps cannot be sent again.
    const replay = route.kind === "sni" ? error.sent : NOTHING;
    if (replay === undefined) throw error;
    cache.forget();
    await knockNow();
    return open(replay);
  }
}

const NOTHING = Buffer.alloc(0);

/** --ws or --sni (flags win over the profile's tunnelPath or tunnelSni), checked. */
function resolveRoute(options: TunnelOptions, profile: KnockProfile): TunnelRoute {
  if (options.ws !== undefined && options.sni !== undefined)
    throw new CliUsageError("Give either --ws PATH or --sni NAME, not both.");
  const fromFlags = options.ws !== undefined || options.sni !== undefined;
  const path = fromFlags ? options.ws : profile.tunnelPath;
  const sni = fromFlags ? options.sni : profile.tunnelSni;
  if (path !== undefined && sni !== undefined)
    throw new CliUsageError(
      "The profile sets both tunnelPath and tunnelSni; pass --ws or --sni to choose one.",
    );
  if (path !== undefined) {
    if (!isKnockPath(path))
      throw new CliUsageError(`Tunnel path ${JSON.stringify(path)}: ${KNOCK_PATH_FIX}.`);
    return { kind: "ws", path };
  }
  if (sni !== undefined) {
    if (!SNI_NAME.test(sni))
      throw new CliUsageError(
        `Tunnel SNI ${JSON.stringify(sni)} is not a DNS name; write the door's tunnel.sni, such as ssh.example.net.`,
      );
    return { kind: "sni", name: sni };
  }
  throw new CliUsageError(
    "No tunnel route: pass --ws PATH (the door's tunnel.path) or --sni NAME (its tunnel.sni), or set tunnelPath or tunnelSni in the profile.",
  );
}

/** Prints the failure on stderr (never stdout: it is the tunnel) and picks knock's exit code. */
function exitFor(error: unknown, deps: CliDeps): number {
  // A usage error (no code, none typed) keeps the CLI's own exit code 2 and message.
  if (!(error instanceof WebknockError) || error instanceof CliUsageError) throw error;
  deps.stderr.write(`webknock: ${error.describe()}\n`);
  if (error instanceof KnockError) return FAILURE_EXIT[error.failure];
  if (error instanceof TunnelRefusedError) return EXIT.denied;
  if (error instanceof TransportError) return EXIT.unreachable;
  return EXIT.error;
}
