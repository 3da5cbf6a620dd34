import { readFileSync, statSync } from "node:fs";
import { createSecureContext, type SecureContext } from "node:tls";
import type { Logger } from "../log.js";

/** A certificate and key on disk, as a door's `tunnel.cert`/`key` or a listener's `tls`. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

/**
 * The SNI route's TLS context, kept as current as its files: each time a tunnel asks,
 * the two files are stat'ed (a few microseconds, once per SSH connection), and when
 * either changed (certbot swaps a symlink; stat follows it) the pair is read again. A
 * pair that does not load (a renewal caught half-written, a key that does not match) is
 * refused with one log line and the last good context stays. Reads once at creation,
 * throwing on a bad pair, as the start-up always did.
 */
export function fileBackedContext(
  files: CertFiles,
  where: string,
  log: Logger,
): () => SecureContext {
  const stamp = () => {
    const cert = statSync(files.cert);
    const key = statSync(files.key);
    return `${String(cert.mtimeMs)}:${String(cert.ino)}:${String(key.mtimeMs)}:${String(key.ino)}`;
  };
  const load = () =>
    createSecureContext({
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      minVersion: "TLSv1.2",
    });
  let seen = stamp();
  let context = load();
  return () => {
    let now: string;
    try {
      now = stamp();
    } catch (error) {
      log.warn(
        { err: error, where },
        "cannot read the SNI route's certificate files; serving the last good pair",
      );
      return context;
    }
    if (now === seen) return context;
    seen = now; // one attempt per change: a bad pair is not re-read on every connection
    try {
      context = load();
      log.info(
        { event: "tls-reloaded", where },
        "the SNI route's certificate changed; new tunnels get it",
      );
    } catch (error) {
      log.error(
        { err: error, where },
        "the SNI route's new certificate and key do not load; the last good pair stays",
      );
    }
    return context;
  };
}
