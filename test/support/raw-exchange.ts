import { connect } from "node:net";

/** What came back over one connection: the bytes, and whether the server closed it. */
export interface Exchange {
  /** Everything received, latin1, with the Date header's value blanked. */
  readonly text: string;
  /** True when the server closed the connection within the wait. */
  readonly closed: boolean;
}

/**
 * Writes raw bytes on a fresh connection and collects the answer until the server closes
 * the connection or, once it has started answering, sends nothing for `quietMs`; a server
 * that sends nothing is given `firstByteMs`. Bounded by `maxMs`. So keep-alive and close
 * can be told apart, and a slow first byte on a loaded machine is not mistaken for silence.
 */
export function exchange(
  port: number,
  request: Buffer,
  quietMs = 300,
  maxMs = 5000,
  firstByteMs = 1500,
): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      clearTimeout(hard);
      socket.destroy();
      const text = Buffer.concat(chunks)
        .toString("latin1")
        .replace(/\r\nDate: [^\r\n]*/g, "\r\nDate: -");
      resolve({ text, closed });
    };
    let quiet = setTimeout(() => {
      finish(false);
    }, firstByteMs);
    const hard = setTimeout(() => {
      finish(false);
    }, maxMs);
    socket.on("data", (chunk) => {
      chunks.push(chunk);
      clearTimeout(quiet);
      quiet = setTimeout(() => {
        finish(false);
      }, quietMs);
    });
    socket.on("error", () => {
      finish(true);
    });
    socket.on("close", () => {
      finish(true);
    });
    socket.write(request);
  });
}
