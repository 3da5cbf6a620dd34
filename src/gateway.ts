import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createMetrics, type GatewayMetrics } from "./admin/metrics.js";
import { createAdminServer } from "./admin/server.js";
import type { GatewayConfig, ListenConfig } from "./config/types.js";
import type { Clock } from "./clock.js";
import { createFirewall } from "./firewall/index.js";
import { createExecaRunner, type CommandRunner } from "./firewall/runner.js";
import type { FirewallAdapter } from "./firewall/types.js";
import { createDefences } from "./defences/index.js";
import { createClientIpResolver } from "./net/client-ip.js";
import { closeServer, listen, type Listener } from "./net/listen.js";
import { createTunnels, type Tunnels } from "./tunnel/index.js";
import { createEdgeHandler } from "./http/edge.js";
import { createStranger, type Stranger } from "./stealth/stranger.js";
import { Views } from "./http/views.js";
import { KnockEngine, type AttemptLimiter } from "./knock/engine.js";
import { GrantManager } from "./knock/grants.js";
import type { Logger } from "./log.js";
import { createStoreBackend, memoryBackend, type StoreBackend } from "./store/backend.js";
import { timedStore } from "./store/timed.js";
import type { KnockStore } from "./store/types.js";
import { fleetHosts } from "./fleet/hosts.js";
import { FleetPublisher } from "./fleet/publisher.js";
import { listAgents } from "./fleet/status.js";
import { registerAgentGauges } from "./fleet/metrics.js";

/** Parts a caller may supply instead of the ones the config describes (tests, benchmarks). */
export interface GatewayDeps {
  readonly log: Logger;
  readonly now: Clock;
  /** The state backend (store, limiter counters); wins over `store`. */
  readonly backend?: StoreBackend;
  /** A store with the limiter's counters in this process (tests with a custom store). */
  readonly store?: KnockStore;
  readonly firewall?: FirewallAdapter;
  readonly run?: CommandRunner;
  readonly limiter?: AttemptLimiter;
}

/** A running (or ready-to-run) gateway. */
export interface Gateway {
  readonly handler: ReturnType<typeof createEdgeHandler>;
  readonly engine: KnockEngine;
  readonly grants: GrantManager;
  readonly store: KnockStore;
  readonly firewall: FirewallAdapter;
  /** What strangers see; a server built around `handler` must be `stranger.attach`ed. */
  readonly stranger: Stranger;
  /** The tunnels (issue 12): registry of open ones, and the grant question they ask. */
  readonly tunnels: Tunnels;
  /** Prometheus metrics; present when the admin API is configured. */
  readonly metrics: GatewayMetrics | undefined;
  /** The admin API's URL once started; undefined when it is not configured. */
  readonly adminUrl: string | undefined;
  /** Reconciles the firewall, starts the sweeper and the listeners; resolves with their URLs. */
  start(): Promise<string[]>;
  /** Stops listeners and the sweeper and closes the store. Grants stay: they expire on their own. */
  stop(): Promise<void>;
}

/** Assembles store, firewall, engine and HTTP edge from a validated config. */
export function createGateway(config: GatewayConfig, deps: GatewayDeps): Gateway {
  const { log, now } = deps;
  const backend =
    deps.backend ??
    (deps.store ? memoryBackend(deps.store) : createStoreBackend(config, { now, log }));
  const rawStore = backend.store;
  const fleet = createFleet(config, backend.redis, now);
  // Metrics exist only with the admin API that serves them; otherwise nothing is wrapped.
  const metrics = config.admin ? createMetrics(rawStore, now) : undefined;
  const store = metrics
    ? timedStore(rawStore, (op, seconds, ok) => {
        metrics.observeStore(op, seconds, ok);
      })
    : rawStore;
  const firewall =
    deps.firewall ??
    createFirewall(config.firewall, {
      run: deps.run ?? createExecaRunner(),
      log: (argv) => {
        log.info({ event: "firewall-dry-run", argv }, argv.join(" "));
      },
      now,
    });
  const grants = new GrantManager(store, firewall, now, log, fleet?.publisher);
  if (metrics && fleet) registerAgentGauges(metrics.registry, fleet.agents, now);
  const clientIp = createClientIpResolver(config.server.trustProxy);
  const defences = createDefences(
    config,
    { store, limiters: backend.limiters },
    clientIp,
    log,
    now,
  );
  const engine = new KnockEngine({
    config,
    store,
    grants,
    now,
    log,
    limiter: deps.limiter ?? defences.limiter,
    observer: metrics?.observer,
  });
  const admin =
    config.admin && metrics
      ? createAdminServer(config.admin, {
          store,
          grants,
          firewall,
          metrics,
          now,
          log,
          agents: fleet?.agents,
        })
      : undefined;
  let adminUrl: string | undefined;
  const stranger = createStranger(config.server);
  const handler = createEdgeHandler({
    engine,
    front: stranger,
    views: new Views(),
    clientIp,
    log,
    onUnknownPath: defences.onUnknownPath,
  });
  const tunnels = createTunnels(config, {
    store,
    now,
    log,
    clientIp,
    ...(metrics === undefined ? {} : { registry: metrics.registry }),
  });
  // An admin revoke closes the IP's tunnels through the door at once.
  grants.onRevoke((door, ip) => {
    tunnels.registry.closeIp(door, ip);
  });
  const servers: Listener[] = [];

  return {
    handler,
    engine,
    grants,
    store,
    firewall,
    stranger,
    metrics,
    tunnels,
    get adminUrl() {
      return adminUrl;
    },
    async start() {
      // Start even when the store is down: knocks fail closed (503) until it is back.
      await backend.connect().catch((error: unknown) => {
        log.error({ err: error }, "the store is not reachable yet; knocks fail closed until it is");
      });
      // Idempotent: the base ruleset (closed ports, ESTABLISHED accept) never depends on
      // the admin having run `webknock firewall init` first.
      await firewall.init(config.doors.flatMap((door) => door.open));
      await grants.start(config.firewall.sweepIntervalMs);
      const urls: string[] = [];
      for (const address of config.server.listen) {
        const server = tunnels.front(address, createListener(address, handler, stranger, tunnels));
        servers.push(server);
        urls.push(await listen(server, address, address.tls ? "https" : "http"));
      }
      adminUrl = await admin?.start();
      log.info(
        { event: "listening", urls, adminUrl, store: store.kind, firewall: firewall.name },
        "webknock is listening",
      );
      return urls;
    },
    async stop() {
      tunnels.registry.closeAll();
      await Promise.all(servers.map(closeServer));
      await admin?.stop();
      await grants.stop();
      await backend.close();
      await stranger.close();
    },
  };
}

/** The fleet's gateway side, when a door names agents' hosts (the loader ensured Redis). */
function createFleet(config: GatewayConfig, redis: StoreBackend["redis"], now: Clock) {
  const hosts = fleetHosts(config);
  if (hosts.length === 0 || redis === undefined) return undefined;
  const { client, keyPrefix } = redis;
  return {
    publisher: new FleetPublisher(client, keyPrefix, now),
    agents: () => listAgents(client, keyPrefix, hosts),
  };
}

/**
 * One listener. Its limits and timeouts are the stranger's (nginx's, so they look like
 * nginx's from outside), and the stranger answers what Node would otherwise answer itself.
 */
function createListener(
  listen: ListenConfig,
  handler: ReturnType<typeof createEdgeHandler>,
  stranger: Stranger,
  tunnels: Tunnels,
): Server {
  const server =
    listen.tls === undefined
      ? createHttpServer(stranger.serverOptions, handler)
      : createHttpsServer(
          {
            ...stranger.serverOptions,
            cert: readFileSync(listen.tls.cert),
            key: readFileSync(listen.tls.key),
            minVersion: "TLSv1.2",
          },
          handler,
        );
  stranger.attach(server, tunnels.upgrades);
  return server;
}
