import type { GatewayConfig } from "../config/types.js";
import { remoteHosts } from "./keys.js";

/** Every agent host any door names, once each, in config order. */
export function fleetHosts(config: GatewayConfig): string[] {
  return [...new Set(config.doors.flatMap((door) => remoteHosts(door.hosts)))];
}
