import type { IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import { CidrSet, canonicalIp } from "./ip.js";

/** Finds the client address of a request; undefined when none can be trusted. */
export type ClientIpResolver = (req: IncomingMessage) => string | undefined;

/** What a socket's peer resolves to; a socket's peer never changes. */
interface Peer {
  /** The normalised peer address. */
  readonly ip: string;
  /** True when the peer is a trusted proxy, so X-Forwarded-For is read. */
  readonly proxy: boolean;
}

/**
 * With no trusted proxies the socket's peer is the client. When the peer is a trusted
 * proxy, X-Forwarded-For is read from the right, skipping trusted proxies; the first
 * address that is not one is the client (anything to its left could be forged).
 * An entry that is not an IP ends the walk with no answer rather than a guess.
 *
 * The normalised peer and whether it is trusted are worked out once per socket (a
 * keep-alive connection carries many requests) and kept in a WeakMap, so they go with
 * the socket. A peer that cannot be read (undefined, say on a socket already closed)
 * is not remembered and is read again on the next request.
 */
export function createClientIpResolver(trustProxy: readonly string[]): ClientIpResolver {
  const trusted = trustProxy.length > 0 ? new CidrSet(trustProxy) : undefined;
  const peers = new WeakMap<Socket, Peer>();
  const peerOf = (socket: Socket): Peer | undefined => {
    const known = peers.get(socket);
    if (known !== undefined) return known;
    const ip = canonicalIp(socket.remoteAddress);
    if (ip === undefined) return undefined;
    const peer: Peer = { ip, proxy: trusted !== undefined && trusted.has(ip) };
    peers.set(socket, peer);
    return peer;
  };
  return (req) => {
    const peer = peerOf(req.socket);
    if (peer === undefined || trusted === undefined || !peer.proxy) return peer?.ip;
    const header = req.headers["x-forwarded-for"];
    if (header === undefined) return peer.ip;
    const hops = (Array.isArray(header) ? header.join(",") : header).split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = canonicalIp(hops[i]);
      if (hop === undefined) return undefined;
      if (!trusted.has(hop)) return hop;
    }
    // Every hop is a trusted proxy: the left-most one is the best answer there is.
    return canonicalIp(hops[0]);
  };
}
