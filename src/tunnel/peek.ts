import { readClientHello } from "./client-hello.js";

/** What a connection's first bytes are, as far as the router cares. */
export type Peeked =
  /** Not decided yet: wait for more bytes (within the peek's limits). */
  | { readonly kind: "more" }
  /** An SSH identification string (`SSH-`, RFC 4253 4.2). */
  | { readonly kind: "ssh" }
  /** TLS; `sni` when a whole ClientHello named a server. */
  | { readonly kind: "tls"; readonly sni?: string }
  /** Anything else (HTTP, garbage, nothing): the listener's own server answers it. */
  | { readonly kind: "other" };

const SSH = Buffer.from("SSH-", "latin1");
const MORE: Peeked = Object.freeze({ kind: "more" });
const OTHER: Peeked = Object.freeze({ kind: "other" });
const BOTH: PeekWants = Object.freeze({ ssh: true, sni: true });

/** Which routes a listener has: only those make the peek wait for more bytes. */
export interface PeekWants {
  /** A door has `ssh: true`. */
  readonly ssh: boolean;
  /** The listener can terminate a door's SNI. */
  readonly sni: boolean;
}

/**
 * Classifies the bytes read so far. `final` says no more will be waited for (the peek's
 * time or size ran out, or the client ended): then "more" becomes a decision. Decides as
 * early as it can: the first byte that is neither `S` nor 0x16 ends the wait, so an HTTP
 * request is handed on at once; so does the first byte of a route the listener lacks. Pure and bounded (one pass over at most the peek size).
 */
export function classify(bytes: Buffer, final: boolean, wants: PeekWants = BOTH): Peeked {
  if (bytes.length === 0) return final ? OTHER : MORE;
  // A route the listener lacks is never waited for: the bytes go on at once, as they
  // would without the router (nginx answers a ClientHello on its HTTP port at once).
  if (bytes[0] === 0x16) {
    if (!wants.sni) return { kind: "tls" };
    const hello = readClientHello(bytes);
    if (hello.kind === "incomplete") return final ? { kind: "tls" } : MORE;
    return hello.kind === "hello" && hello.sni !== undefined
      ? { kind: "tls", sni: hello.sni }
      : { kind: "tls" };
  }
  if (!wants.ssh) return OTHER;
  const n = Math.min(bytes.length, SSH.length);
  if (bytes.subarray(0, n).equals(SSH.subarray(0, n))) {
    if (n === SSH.length) return { kind: "ssh" };
    return final ? OTHER : MORE;
  }
  return OTHER;
}
