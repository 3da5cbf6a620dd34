import { pino, type Logger as PinoLogger } from "pino";

/** Structured JSON logger (pino). Audit events carry `event`, `ip`, `door`, `user`. */
export type Logger = PinoLogger;

/**
 * Creates the gateway's logger. Redaction is a second line of defence: no code path
 * logs a TOTP code or secret, and these paths are censored even if one tried.
 */
export function createLogger(
  options: { level?: string; destination?: NodeJS.WritableStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { app: "webknock" },
      redact: {
        paths: [
          "code",
          "secret",
          "*.code",
          "*.secret",
          "body.code",
          "req.body",
          // Close tokens (Close now) are as good as a revoke for whoever holds one.
          "closeToken",
          "*.closeToken",
          "body.close",
        ],
        censor: keepErrorCodes,
      },
    },
    options.destination ?? process.stdout,
  );
}

/**
 * An error code (`ERR_CONFIG`, `ECONNREFUSED`, `ERR_KNOCK_DENIED`): upper-case letters,
 * digits and `_`, starting with a letter. A TOTP code is digits only, so it never matches.
 */
const ERROR_CODE = /^[A-Z][A-Z0-9_]*$/;

/**
 * The redaction censor: `*.code` must hide a TOTP code wherever one might be logged, but
 * not `err.code`, which says what failed. A `code` that looks like an error code is kept;
 * anything else under a redacted path (every secret, every other code) is censored.
 */
function keepErrorCodes(value: unknown, path: string[]): unknown {
  const isCode = path.at(-1) === "code";
  return isCode && typeof value === "string" && ERROR_CODE.test(value) ? value : "[redacted]";
}

/** A logger that discards everything; for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
