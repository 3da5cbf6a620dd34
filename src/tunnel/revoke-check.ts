import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { KnockStore } from "../store/types.js";
import type { TunnelRegistry } from "./registry.js";

/**
 * A grant whose record is gone this long before its expiry was revoked (or closed by its
 * user), not swept: another gateway's sweeper deletes a record at ITS clock's expiry, so
 * clocks a few seconds apart must not read as a revoke.
 */
export const CLOCK_SKEW_MS = 5000;

/**
 * Finds revokes made on other gateways sharing the store: every `intervalMs`, one lookup
 * per (door, IP) holding open tunnels. A record gone well before the expiry the tunnel
 * last saw means a revoke: those tunnels close. A later expiry (a re-knock) is recorded.
 * A store that cannot answer closes nothing: a Redis blip must not cut live SSH sessions
 * (it already refuses new tunnels). The gateway that runs a revoke closes at once
 * (GrantManager.onRevoke); this bounds the others' delay to about one interval.
 */
export function startRevokeCheck(
  registry: TunnelRegistry,
  store: Pick<KnockStore, "getGrant">,
  now: Clock,
  log: Logger,
  intervalMs: number,
): () => void {
  let running = false;
  const check = async () => {
    if (running) return; // a slow store: never two checks at once
    running = true;
    try {
      for (const { door, ip, expiresAt } of registry.heldGrants().values()) {
        if (expiresAt - CLOCK_SKEW_MS <= now()) continue; // near or past expiry: it survives
        const grant = await store.getGrant(door, ip);
        if (grant !== undefined) {
          registry.extendGrant(door, ip, grant.expiresAt);
          continue;
        }
        const closed = registry.closeIp(door, ip);
        log.info(
          { event: "tunnel-revoke-seen", door, ip, closed },
          "a grant with open tunnels was revoked elsewhere; its tunnels are closed",
        );
      }
    } catch (error) {
      log.warn(
        { err: error },
        "cannot check open tunnels' grants; they stay open until the next check",
      );
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}
