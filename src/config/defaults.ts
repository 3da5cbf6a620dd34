/** Where each default comes from is said beside it; they are frozen named constants. */
export const DEFAULTS = Object.freeze({
  /** knockd's classic seq_timeout is 5-15 s; a phone tapping bookmarks needs a little more. */
  sequenceTimeout: "20s",
  /** Long enough to open an authenticator app and type six digits. */
  challengeTimeout: "60s",
  /** Enough to start an SSH session; the ESTABLISHED rule keeps it alive after. */
  openFor: "30s",
  /** Sweeper period: a grant closes at most this long after its expiry. */
  sweepInterval: "1s",
  keyPrefix: "wk:",
  chain: "WEBKNOCK",
  table: "webknock",
  listen: [{ host: "127.0.0.1", port: 8080 }],
  /**
   * Consecutive failed codes before a user or IP is locked out. NIST SP 800-63B 5.2.2
   * caps this at 100; with 6 digits and 2 valid codes per attempt, 5 tries per lockout
   * give an attacker odds of 1e-5 per lockout, and the lockout doubles each time.
   */
  maxFailures: 5,
  /** Failures older than this are forgotten even without a success. */
  failureWindow: "15m",
  /** The first lockout; each further one within lockoutMemory doubles it. */
  lockout: "1m",
  /** Upper bound of the doubling: a day of lockouts costs an attacker about 24 x 5 guesses. */
  maxLockout: "1h",
  /** Lockouts are counted (for doubling) over this period. */
  lockoutMemory: "24h",
  /**
   * A client asking for this many distinct unknown paths within scannerWindow is a
   * scanner (a browser asks for a few; dirbuster-style tools for hundreds a second).
   */
  scannerDistinctPaths: 20,
  scannerWindow: "10s",
  /** How long a scanner's knocks are ignored, on every gateway sharing the store. */
  scannerBan: "1h",
  /** IPs the in-process scanner counter tracks at once (about 80 bytes each). */
  scannerTrackedIps: 10_000,
  /** Loopback only: the admin API can revoke grants, so it is never exposed by default. */
  adminListen: { host: "127.0.0.1", port: 9090 },
});
