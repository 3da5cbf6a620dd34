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
        paths: ["code", "secret", "*.code", "*.secret", "body.code", "req.body"],
        censor: "[redacted]",
      },
    },
    options.destination ?? process.stdout,
  );
}

/** A logger that discards everything; for tests that do not read logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
