import type { IncomingMessage } from "node:http";
import { CidrSet, normalizeIp } from "../net/ip.js";

/** Finds the client address of a request; undefined when none can be trusted. */
export type ClientIpResolver = (req: IncomingMessage) => string | undefined;

/**
 * With no trusted proxies the socket's peer is the client. When the peer is a trusted
 * proxy, X-Forwarded-For is read from the right, skipping trusted proxies; the first
 * address that is not one is the client (anything to its left could be forged).
 * An entry that is not an IP ends the walk with no answer rather than a guess.
 */
export function createClientIpResolver(trustProxy: readonly string[]): ClientIpResolver {
  const trusted = trustProxy.length > 0 ? new CidrSet(trustProxy) : undefined;
  return (req) => {
    const peer = normalizeIp(req.socket.remoteAddress);
    if (peer === undefined || trusted === undefined || !trusted.has(peer)) return peer;
    const header = req.headers["x-forwarded-for"];
    if (header === undefined) return peer;
    const hops = (Array.isArray(header) ? header.join(",") : header).split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = normalizeIp(hops[i]);
      if (hop === undefined) return undefined;
      if (!trusted.has(hop)) return hop;
    }
    // Every hop is a trusted proxy: the left-most one is the best answer there is.
    return normalizeIp(hops[0]);
  };
}
