import type { IncomingMessage, Server, ServerOptions, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { answerAsRequest } from "./as-request.js";
import { createNginxProfile, NGINX_SERVER_OPTIONS } from "./nginx.js";
import { PAGES, pageBytes } from "./nginx-pages.js";
import { createUpstreamProxy, UPSTREAM_TIMEOUTS, type UpstreamTimeouts } from "./upstream.js";

/** `server.decoy`: what a request that is not a knock sees. */
export type DecoyProfile = "nginx" | "upstream";

/** The settings the stranger module reads (`server.decoy`, `server.upstream`). */
export interface StrangerConfig {
  readonly decoy: DecoyProfile;
  /** The smoke-screen site; required when `decoy` is `upstream`. */
  readonly upstream?: string;
}

/**
 * "What a stranger sees", decided in one place: the answer to every request that is not
 * a knock (or is a refused one), to bytes Node cannot parse, and to upgrades and CONNECT.
 */
export interface Stranger {
  /** Which profile answers. */
  readonly profile: DecoyProfile;
  /**
   * Call first for every request, before any routing: answers what the front server
   * refuses outright (nginx: bad target or Host, TRACE, HTTP/2 on HTTP/1 and the like)
   * and returns true. Returns false, writing nothing, when the request may be routed.
   */
  refuse(req: IncomingMessage, res: ServerResponse): boolean;
  /**
   * Answers a routed request that is not a knock, and a knock step that must not show
   * it is one: nginx's 404, or the upstream site's answer. Never throws.
   */
  answer(req: IncomingMessage, res: ServerResponse): void;
  /** The server's `clientError` event: nginx's bytes for what Node's parser refused. */
  onClientError(error: Error & { code?: string; rawPacket?: Buffer }, socket: Duplex): void;
  /** node:http options the listener must be created with (limits and timeouts). */
  readonly serverOptions: ServerOptions;
  /**
   * Hooks the server events that would otherwise let Node answer in its own words:
   * clientError, CONNECT, Expect, and (upstream profile) upgrades. Call once per server.
   * `upgrades` (the WebSocket tunnel route) sees every upgrade request first; what it
   * declines the stranger answers as it would without it.
   */
  attach(server: Server, upgrades?: UpgradeRoute): void;
  /** Releases upstream connections. */
  close(): Promise<void>;
}

/**
 * Takes an upgrade request, or calls `decline()` (once, and then touches nothing) to
 * leave it to the stranger.
 */
export type UpgradeRoute = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  decline: () => void,
) => void;

/** Test and benchmark knobs; production uses the defaults. */
export interface StrangerOptions {
  readonly upstreamTimeouts?: UpstreamTimeouts;
}

/** Builds the stranger for a validated config. */
export function createStranger(config: StrangerConfig, options: StrangerOptions = {}): Stranger {
  const nginx = createNginxProfile();
  const proxy =
    config.decoy === "upstream"
      ? createUpstreamProxy(
          new URL(config.upstream ?? ""),
          nginx.send,
          options.upstreamTimeouts ?? UPSTREAM_TIMEOUTS,
        )
      : undefined;
  return {
    profile: config.decoy,
    refuse: proxy ? nginx.refuseUnframeable : nginx.refuse,
    answer: proxy
      ? (req, res) => {
          proxy.forward(req, res);
        }
      : (_req, res) => {
          nginx.notFound(res);
        },
    onClientError: nginx.onClientError,
    serverOptions: NGINX_SERVER_OPTIONS,
    attach(server, upgrades) {
      server.on("clientError", nginx.onClientError);
      // nginx answers CONNECT with a 400 and closes; Node would drop the connection.
      server.on("connect", (_req: IncomingMessage, socket: Duplex) => {
        socket.end(pageBytes(PAGES.badRequest, false));
      });
      // nginx sends no `100 Continue` for a path it does not serve, and ignores other
      // expectations; Node would send 100 or 417 before the handler runs.
      const asRequest = (req: IncomingMessage, res: ServerResponse) => {
        server.emit("request", req, res);
      };
      server.on("checkContinue", asRequest);
      server.on("checkExpectation", asRequest);
      // Without an 'upgrade' listener node:http treats an upgrade as a plain request,
      // which is what nginx does; once the tunnel route listens, declined ones are
      // answered that way by hand.
      const declined = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (proxy) proxy.upgrade(req, socket, head);
        else answerAsRequest(server, req, socket, head);
      };
      if (upgrades) {
        server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          upgrades(req, socket, head, () => {
            declined(req, socket, head);
          });
        });
      } else if (proxy) {
        server.on("upgrade", declined);
      }
    },
    async close() {
      await proxy?.close();
    },
  };
}
