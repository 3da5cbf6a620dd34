import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { GrantRecord, KnockStore } from "../store/types.js";

/**
 * "Does this IP hold a live grant on door D?", the one question every tunnel route asks
 * (plain SSH, the SNI route, the WebSocket route). Answered from the store's grant record,
 * so a grant made on any gateway sharing the store counts.
 */
export interface LiveGrants {
  /**
   * The grant `ip` (canonical form) holds on `door` if it is live now; undefined when
   * there is none, it has expired, or the store cannot answer (fail closed: the caller
   * treats the client as a stranger). Never rejects.
   */
  find(door: string, ip: string): Promise<GrantRecord | undefined>;
}

/** LiveGrants over a KnockStore and a clock; store errors are logged and fail closed. */
export function storeLiveGrants(store: KnockStore, now: Clock, log: Logger): LiveGrants {
  return {
    async find(door, ip) {
      try {
        const grant = await store.getGrant(door, ip);
        return grant !== undefined && grant.expiresAt > now() ? grant : undefined;
      } catch (error) {
        log.error(
          { err: error, door, ip },
          "cannot read grants; the tunnel is refused (fail closed)",
        );
        return undefined;
      }
    },
  };
}
