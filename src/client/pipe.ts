import type { Duplex, Readable, Writable } from "node:stream";
import { TransportError } from "./http.js";

/**
 * Pipes `input` into the tunnel and the tunnel into `output` until the tunnel closes.
 * `pipe` gives backpressure both ways: a slow reader pauses the other side, nothing is
 * buffered beyond the streams' high-water marks. The end of `input` half-closes the
 * tunnel (ssh exiting); the end of the tunnel (the target or gateway closing) finishes
 * the run, without TCP half-close (nothing a ProxyCommand carries needs it). Resolves when the tunnel is closed; rejects with a TransportError when it
 * broke (reset, timeout), so the caller can exit 4.
 */
export function pipeTunnel(tunnel: Duplex, input: Readable, output: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    const done = () => {
      input.unpipe(tunnel);
      tunnel.unpipe(output);
      // Whoever started us keeps its side of the pipe open (ssh); stop reading it so the
      // process can exit as soon as the tunnel is gone.
      input.pause();
      if (failure === undefined) resolve();
      else
        reject(
          new TransportError("unreachable", `The tunnel broke: ${failure.message}.`, {
            cause: failure,
          }),
        );
    };
    tunnel.once("error", (error: Error) => {
      failure ??= error;
    });
    tunnel.once("close", done);
    // The far side is done (a WebSocket close is a full close; sshd closing ends the session):
    // `pipe` has ended `output`, so close our side too rather than wait for `input` to end.
    tunnel.once("end", () => setImmediate(() => tunnel.destroy()));
    // ssh has gone (EPIPE on our stdout): nothing will read the target's bytes any more.
    output.once("error", () => tunnel.destroy());
    input.once("error", () => tunnel.destroy());
    input.pipe(tunnel);
    tunnel.pipe(output);
  });
}
