import type { Server as HttpServer } from "node:http";
import type { Listener } from "../net/listen.js";
import type { Registry } from "prom-client";
import type { Clock } from "../clock.js";
import type { DoorConfig, GatewayConfig, ListenConfig } from "../config/types.js";
import type { Logger } from "../log.js";
import type { ClientIpResolver } from "../net/client-ip.js";
import type { UpgradeRoute } from "../stealth/stranger.js";
import type { KnockStore } from "../store/types.js";
import { storeLiveGrants, type LiveGrants } from "./live-grants.js";
import { createTunnelMetrics } from "./metrics.js";
import { TunnelRegistry } from "./registry.js";
import { createConnectionRouter, type SniRoute } from "./router.js";
import { startRevokeCheck } from "./revoke-check.js";
import { fileBackedContext } from "./sni-context.js";
import { createWebSocketRoute } from "./websocket.js";

/** What the gateway needs to build its tunnels. */
export interface TunnelDeps {
  readonly store: KnockStore;
  readonly now: Clock;
  readonly log: Logger;
  readonly clientIp: ClientIpResolver;
  /** The admin API's registry, when there is one: the tunnel metrics go there. */
  readonly registry?: Registry;
}

/** The tunnels of a gateway (issue 12): shared registry, one router per listener. */
export interface Tunnels {
  readonly registry: TunnelRegistry;
  readonly grants: LiveGrants;
  /** The WebSocket route for `stranger.attach`; undefined when no door has a path. */
  readonly upgrades: UpgradeRoute | undefined;
  /**
   * What listens for `listen`: a connection router in front of `server` when a door has
   * an ssh or SNI route (reads certificates now), else `server` itself.
   */
  front(listen: ListenConfig, server: HttpServer): Listener;
  /** Stops the revoke check and closes every tunnel (gateway stop). */
  stop(): void;
}

/** Builds the tunnels from a validated config. */
export function createTunnels(config: GatewayConfig, deps: TunnelDeps): Tunnels {
  const doors = config.doors.filter((door) => door.tunnel !== undefined);
  const grants = storeLiveGrants(deps.store, deps.now, deps.log);
  const registry = new TunnelRegistry(
    config.tunnels,
    deps.log,
    createTunnelMetrics(deps.registry),
    deps.now,
  );
  const paths = new Map<string, DoorConfig>();
  for (const door of doors) if (door.tunnel?.path !== undefined) paths.set(door.tunnel.path, door);
  const ssh = doors.find((door) => door.tunnel?.ssh === true);
  const upgrades =
    paths.size === 0
      ? undefined
      : createWebSocketRoute({ paths, grants, tunnels: registry, clientIp: deps.clientIp });
  const stopRevokeCheck =
    doors.length === 0
      ? () => undefined
      : startRevokeCheck(registry, deps.store, deps.now, deps.log, config.tunnels.revokeCheckMs);
  return {
    registry,
    grants,
    upgrades,
    stop() {
      stopRevokeCheck();
      registry.closeAll();
    },
    front(listen, server) {
      const sni = sniRoutes(doors, listen, deps.log);
      if (ssh === undefined && sni.size === 0) return server;
      return createConnectionRouter({
        server,
        ...(ssh === undefined ? {} : { ssh }),
        sni,
        grants,
        tunnels: registry,
        limits: config.tunnels,
      });
    },
  };
}

/** The SNI routes a listener can terminate: the door's own certificate, or the listener's. */
function sniRoutes(
  doors: readonly DoorConfig[],
  listen: ListenConfig,
  log: Logger,
): Map<string, SniRoute> {
  const routes = new Map<string, SniRoute>();
  for (const door of doors) {
    const tunnel = door.tunnel;
    const files = tunnel?.tls ?? listen.tls;
    if (tunnel?.sni === undefined || files === undefined) continue;
    const where = tunnel.tls ? `doors.${door.name}.tunnel` : "the listener's tls";
    routes.set(tunnel.sni, { door, context: fileBackedContext(files, where, log) });
  }
  return routes;
}
