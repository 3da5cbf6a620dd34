import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer, Server as HttpsServer } from "node:https";
import { createMetrics, type GatewayMetrics } from "./admin/metrics.js";
import { createAdminServer } from "./admin/server.js";
import type { DoorConfig, GatewayConfig, ListenConfig, TlsListenConfig } from "./config/types.js";
import { ConfigError } from "./errors.js";
import { manageTlsContext, readTlsMaterial, type TlsContext } from "./net/tls-context.js";
import { LiveGateway, type ReloadOutcome } from "./reload/live.js";
import type { Clock } from "./clock.js";
import { createFirewall } from "./firewall/index.js";
import { createExecaRunner, createSessionSpawner, type CommandRunner } from "./firewall/runner.js";
import type { SessionSpawner } from "./firewall/session.js";
import type { FirewallAdapter } from "./firewall/types.js";
import { closeServer, listen, type Listener } from "./net/listen.js";
import { createClientIpResolver } from "./net/client-ip.js";
import { createTunnels, type Tunnels } from "./tunnel/index.js";
import type { createEdgeHandler } from "./http/edge.js";
import { EnrollmentPaths } from "./passkey/enroll-paths.js";
import { createStranger, type Stranger } from "./stealth/stranger.js";
import { Views } from "./http/views.js";
import type { KnockEngine, AttemptLimiter } from "./knock/engine.js";
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
  /** Starts nft/ipset sessions in the same place `run` reaches (tests: their namespace). */
  readonly spawn?: SessionSpawner;
  readonly limiter?: AttemptLimiter;
  /** Re-reads and validates the config file on reload (throws ConfigError); absent: reload is refused. */
  readonly loadConfig?: () => GatewayConfig;
}

/** A running (or ready-to-run) gateway. */
export interface Gateway {
  readonly handler: ReturnType<typeof createEdgeHandler>;
  /** The engine of the config in force (a reload replaces it). */
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
  /**
   * Re-reads the config file, secrets and certificates and applies them without dropping
   * anyone (src/reload); refused, with every problem, when the file is invalid or changes
   * what needs a restart. Refused when the gateway was not given `loadConfig`.
   */
  reload(): Promise<ReloadOutcome>;
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
    (deps.store ? memoryBackend(deps.store, now) : createStoreBackend(config, { now, log }));
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
      // A test's runner reaches its namespace; a session spawned here would reach the host.
      spawn: deps.run === undefined ? createSessionSpawner() : deps.spawn,
      log: (argv) => {
        log.info({ event: "firewall-dry-run", argv }, argv.join(" "));
      },
      now,
    });
  // The doors in force, read when a grant opens or closes: a reload may add or remove some.
  const doorNames = (): string[] => live.config.doors.map((door: DoorConfig) => door.name);
  const grants = new GrantManager(store, firewall, now, log, fleet?.publisher, doorNames);
  if (metrics && fleet) registerAgentGauges(metrics.registry, fleet.agents, now);
  const stranger = createStranger(config.server);
  const tlsContexts: (TlsContext | undefined)[] = [];
  // Enrollment URLs are polled only where passkeys are configured (server.rpId and
  // origin, which only a restart changes); each generation serves them for its users.
  const enrollments =
    config.server.rpId !== undefined && config.server.origin !== undefined
      ? new EnrollmentPaths(backend.enrollments, now, log)
      : undefined;
  const live = new LiveGateway(config, {
    shared: {
      store,
      limiters: backend.limiters,
      grants,
      stranger,
      views: new Views(),
      now,
      log,
      limiter: deps.limiter,
      observer: metrics?.observer,
      enrollments,
    },
    firewall,
    load: deps.loadConfig,
    tls: () => tlsContexts,
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
          // The token in force: a reload may rotate it.
          token: () => live.config.admin?.token ?? "",
          reload: () => live.reload(),
        })
      : undefined;
  let adminUrl: string | undefined;
  const { handler } = live;
  // The tunnels are built from the config at start: a reload does not change their routes
  // or the client address they ask about (server.trustProxy); those need a restart.
  const tunnels = createTunnels(config, {
    store,
    now,
    log,
    clientIp: createClientIpResolver(config.server.trustProxy),
    ...(metrics === undefined ? {} : { registry: metrics.registry }),
  });
  // An admin revoke closes the IP's tunnels through the door at once.
  grants.onRevoke((door, ip) => {
    tunnels.registry.closeIp(door, ip);
  });
  const servers: Listener[] = [];

  return {
    handler,
    get engine() {
      return live.engine;
    },
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
      await firewall.init(live.config.doors.flatMap((door) => door.open));
      await grants.start(config.firewall.sweepIntervalMs);
      await enrollments?.start();
      const urls: string[] = [];
      for (const [i, address] of config.server.listen.entries()) {
        const inner = createListener(address, handler, stranger, tunnels);
        if (address.tls !== undefined && inner instanceof HttpsServer) {
          tlsContexts[i] = manageTlsContext(inner, address.tls, `server.listen[${i}].tls`, log);
        }
        const server = tunnels.front(address, inner);
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
    reload: () => live.reload(),
    async stop() {
      for (const context of tlsContexts) context?.close();
      tunnels.stop();
      await Promise.all(servers.map(closeServer));
      await admin?.stop();
      await grants.stop();
      firewall.release?.();
      enrollments?.stop();
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

/** A listener's certificate, key and floor, or a ConfigError naming what does not load. */
function tlsOptions(tls: TlsListenConfig, where = "server.listen[].tls") {
  const material = readTlsMaterial(tls, where);
  if (typeof material === "string") throw new ConfigError(material);
  return material.options;
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
            // nginx gives a TLS handshake the header timeout (60 s); Node's default is 120 s.
            handshakeTimeout: stranger.serverOptions.headersTimeout,
            ...tlsOptions(listen.tls),
          },
          handler,
        );
  stranger.attach(server, tunnels.upgrades);
  return server;
}
