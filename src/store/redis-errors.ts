import type { RedisClient } from "./redis-client.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

/** One line per outage is enough: ioredis retries every few hundred ms and would flood the log. */
const ERROR_LOG_INTERVAL_MS = 10_000;

/**
 * Attaches the client's 'error' listener, so a Redis outage can never surface as an
 * unhandled 'error' event, and logs at most one line per interval (with the number of
 * errors suppressed in between) plus one line when the connection is back.
 * Returns a function that detaches both listeners.
 */
export function watchRedisErrors(
  client: RedisClient,
  log: Logger,
  now: Clock = Date.now,
  intervalMs = ERROR_LOG_INTERVAL_MS,
): () => void {
  let lastLogged = -Infinity;
  let suppressed = 0;
  let failing = false;
  const onError = (error: Error) => {
    failing = true;
    const time = now();
    if (time - lastLogged < intervalMs) {
      suppressed++;
      return;
    }
    log.error(
      { event: "store-error", err: error, suppressed },
      "Redis is failing; knocks fail closed (503) until it is back",
    );
    lastLogged = time;
    suppressed = 0;
  };
  const onReady = () => {
    if (!failing) return;
    failing = false;
    log.info({ event: "store-recovered", suppressed }, "Redis is back; knocks are served again");
    suppressed = 0;
    lastLogged = -Infinity;
  };
  client.on("error", onError);
  client.on("ready", onReady);
  return () => {
    client.off("error", onError);
    client.off("ready", onReady);
  };
}
