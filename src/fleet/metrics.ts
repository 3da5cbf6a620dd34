import { Gauge, type Registry } from "prom-client";
import type { Clock } from "../clock.js";
import type { AgentStatus } from "./status.js";

/**
 * Per-agent Prometheus gauges, labelled by host, on the gateway's registry. They are
 * collected concurrently at scrape time and share one Redis read; with Redis down they
 * keep their last values rather than fake zeros.
 */
export function registerAgentGauges(
  registry: Registry,
  agents: () => Promise<AgentStatus[]>,
  now: Clock,
): void {
  const registers = [registry];
  let pending: Promise<AgentStatus[] | undefined> | undefined;
  const read = () =>
    (pending ??= agents()
      .catch(() => undefined)
      .finally(() => {
        pending = undefined;
      }));
  const gauge = (name: string, help: string, value: (agent: AgentStatus) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ["host"],
      registers,
      async collect() {
        for (const agent of (await read()) ?? []) {
          const v = value(agent);
          if (v !== undefined) this.set({ host: agent.host }, v);
        }
      },
    });
  gauge(
    "webknock_agent_heartbeat_age_seconds",
    "Seconds since the host's agent last beat (it beats at least once a second).",
    (a) => (a.heartbeatAt === undefined ? undefined : (now() - a.heartbeatAt) / 1000),
  );
  gauge(
    "webknock_agent_lag_events",
    "Grant events in the host's stream the agent has not read yet.",
    (a) => a.lag,
  );
  gauge(
    "webknock_agent_grants_applied",
    "Live grants the host's agent has programmed.",
    (a) => a.applied,
  );
}
