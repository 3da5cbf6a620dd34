import { readFileSync, watch, type FSWatcher } from "node:fs";
import { basename, dirname } from "node:path";
import { createSecureContext, type Server as TlsServer } from "node:tls";
import type { TlsListenConfig } from "../config/types.js";
import type { Logger } from "../log.js";

/** Wait this long after the last change in a watched directory before re-reading (certbot writes several files). */
export const TLS_DEBOUNCE_MS = 300;

/** The certificate, key and floor a listener serves with, read and checked. */
export interface TlsMaterial {
  /** Options for `https.createServer` and `server.setSecureContext`. */
  readonly options: {
    readonly cert: Buffer;
    readonly key: Buffer;
    readonly minVersion: TlsListenConfig["minVersion"];
  };
}

/**
 * Reads a listener's certificate and key and checks that they make a context (a PEM each,
 * the key matching the certificate): returns the material, or one problem that names the
 * config key (`where`, such as `server.listen[0].tls`) and the fix.
 */
export function readTlsMaterial(tls: TlsListenConfig, where: string): TlsMaterial | string {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(tls.cert);
  } catch (error) {
    return `${where}.cert: cannot read ${tls.cert} (${codeOf(error)}); fix the path or the file's owner`;
  }
  try {
    key = readFileSync(tls.key);
  } catch (error) {
    return `${where}.key: cannot read ${tls.key} (${codeOf(error)}); fix the path or the file's owner`;
  }
  const options = { cert, key, minVersion: tls.minVersion };
  try {
    createSecureContext(options);
  } catch (error) {
    // OpenSSL's words ("key values mismatch", "no start line") say which part is wrong.
    return `${where}: ${tls.cert} and ${tls.key} are not a usable certificate and key (${(error as Error).message}); install a matching PEM pair`;
  }
  return { options };
}

/** Keeps one HTTPS listener's certificate current without dropping its connections. */
export interface TlsContext {
  /**
   * Checks new settings (paths or minVersion from a reloaded config) without applying
   * them: a function that applies them, or the problem. Applying re-aims the watcher.
   */
  prepare(tls: TlsListenConfig): (() => void) | string;
  /** Re-reads the current files and applies them if they changed; false when refused. */
  refresh(): boolean;
  /** Stops watching. */
  close(): void;
}

/**
 * Watches the directories of a listener's certificate and key (certbot replaces symlinks
 * in `live/`, so the directory is what changes) and, a short debounce after the last
 * change, re-reads both and installs them with `server.setSecureContext`: new handshakes
 * get the new certificate, open connections keep theirs. A pair that does not load is
 * refused with one log line and the old one stays.
 */
export function manageTlsContext(
  server: TlsServer,
  initial: TlsListenConfig,
  where: string,
  log: Logger,
  debounceMs = TLS_DEBOUNCE_MS,
): TlsContext {
  let current = initial;
  let served: TlsMaterial | undefined;
  let watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;

  const install = (tls: TlsListenConfig, material: TlsMaterial) => {
    server.setSecureContext(material.options);
    current = tls;
    served = material;
  };
  const unchanged = (material: TlsMaterial) =>
    served !== undefined &&
    served.options.minVersion === material.options.minVersion &&
    served.options.cert.equals(material.options.cert) &&
    served.options.key.equals(material.options.key);

  const refresh = (): boolean => {
    const material = readTlsMaterial(current, where);
    if (typeof material === "string") {
      log.error({ event: "tls-refused", listener: where, problem: material }, material);
      return false;
    }
    if (unchanged(material)) return true;
    install(current, material);
    log.info(
      { event: "tls-reloaded", listener: where, cert: current.cert },
      "certificate and key re-read; new connections get them, open ones keep theirs",
    );
    return true;
  };

  const arm = () => {
    for (const watcher of watchers) watcher.close();
    watchers = [];
    const names = new Set([basename(current.cert), basename(current.key)]);
    for (const dir of new Set([dirname(current.cert), dirname(current.key)])) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, file) => {
          if (file !== null && !names.has(file)) return;
          clearTimeout(timer);
          timer = setTimeout(refresh, debounceMs);
          timer.unref();
        });
        watcher.on("error", (error) => {
          log.warn(
            { event: "tls-watch-error", dir, err: error },
            "cannot watch a certificate directory; reload to pick up new certificates",
          );
        });
        watchers.push(watcher);
      } catch (error) {
        // Still served; only renewals then need `webknock reload` (or SIGHUP).
        log.warn(
          { event: "tls-watch-error", dir, err: error },
          `cannot watch ${dir}; a renewed certificate is picked up on reload only`,
        );
      }
    }
  };

  const first = readTlsMaterial(initial, where);
  if (typeof first !== "string") served = first;
  arm();

  return {
    prepare(tls) {
      const material = readTlsMaterial(tls, where);
      if (typeof material === "string") return material;
      return () => {
        const moved = tls.cert !== current.cert || tls.key !== current.key;
        if (!unchanged(material)) install(tls, material);
        current = tls;
        if (moved) arm();
      };
    },
    refresh,
    close() {
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
      watchers = [];
    },
  };
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
