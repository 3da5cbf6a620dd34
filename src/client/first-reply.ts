import type { Duplex, Readable } from "node:stream";
import { TransportError } from "./http.js";
import { TunnelRefusedError } from "./tunnel.js";

/** The most of the client's first bytes kept to send again on a new tunnel after a knock. */
const MAX_KEPT = 64 * 1024;

/** An HTTP request line's start: a client that speaks HTTP itself may get HTTP back. */
const HTTP_REQUEST = /^[A-Z]{3,10} \S/;
/** A status line: `HTTP/1.1 400 `. */
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3}) /;

/**
 * Waits for the first bytes through a TLS (SNI) tunnel, sending `replay` and then the
 * client's input meanwhile (a copy is kept, bounded). This route cannot be refused
 * visibly: without a grant the gateway hands the connection to its HTTPS web app, which
 * completes the handshake and answers the client's first bytes (ssh's banner) as nginx
 * answers a bad request. A service behind a tunnel never answers a greeting that is not
 * HTTP in HTTP, so that answer is the refusal: it never reaches the client's output, and
 * the caller can knock and send the kept bytes again on a new tunnel. Rejects with
 * TunnelRefusedError for that, and TransportError when the tunnel ends before a byte.
 */
export function firstReply(tunnel: Duplex, input: Readable, replay: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const kept: Buffer[] = replay.length > 0 ? [replay] : [];
    let keptBytes = replay.length;
    const onInput = (chunk: Buffer) => {
      keptBytes += chunk.length;
      if (keptBytes <= MAX_KEPT) kept.push(chunk);
      tunnel.write(chunk);
    };
    const stop = () => {
      input.off("data", onInput);
      input.pause();
      tunnel.off("data", onFirst);
      tunnel.off("end", onEnd);
      tunnel.off("error", onError);
    };
    const onFirst = (first: Buffer) => {
      stop();
      tunnel.pause();
      const sent = Buffer.concat(kept);
      const status = STATUS_LINE.exec(first.toString("latin1", 0, 16));
      if (status === null || HTTP_REQUEST.test(sent.toString("latin1", 0, 16))) {
        resolve(first);
        return;
      }
      tunnel.destroy();
      reject(
        new TunnelRefusedError(Number(status[1]), "sni", keptBytes <= MAX_KEPT ? sent : undefined),
      );
    };
    const onEnd = () => {
      stop();
      tunnel.destroy();
      reject(
        new TransportError(
          "unreachable",
          "The tunnel closed before the service behind it said anything.",
        ),
      );
    };
    const onError = (error: Error) => {
      stop();
      tunnel.destroy();
      reject(
        new TransportError("unreachable", `The tunnel broke: ${error.message}.`, { cause: error }),
      );
    };
    tunnel.on("data", onFirst);
    tunnel.once("end", onEnd);
    tunnel.once("error", onError);
    if (replay.length > 0) tunnel.write(replay);
    input.on("data", onInput);
  });
}
