/**
 * One base error with a stable machine-readable `code`; subclasses carry the values.
 * Messages are whole sentences that name the value and the fix (otplib / helmet style).
 */
export class WebknockError extends Error {
  /** What the user can do about it, a whole sentence; undefined when the message says it. */
  readonly fix: string | undefined;

  constructor(
    /** Stable identifier, e.g. `ERR_CONFIG`; safe to match on. */
    readonly code: string,
    message: string,
    options?: ErrorOptions & { readonly fix?: string },
  ) {
    super(message, options);
    this.name = new.target.name;
    this.fix = options?.fix;
  }

  /** The message and, when the message does not already say it, the fix: one line for people. */
  describe(): string {
    return this.fix === undefined || this.message.includes(this.fix)
      ? this.message
      : `${this.message} ${this.fix}`;
  }
}

/** The configuration file is missing, unparsable or invalid. */
export class ConfigError extends WebknockError {
  constructor(
    message: string,
    /** Every problem found, one sentence each, with its key path. */
    readonly problems: readonly string[] = [message],
  ) {
    super("ERR_CONFIG", message);
  }
}

/** The state store (Redis) could not answer; callers must fail closed. */
export class StoreUnavailableError extends WebknockError {
  constructor(cause: unknown) {
    super("ERR_STORE_UNAVAILABLE", "The state store is unavailable; refusing to open anything.", {
      cause,
    });
  }
}

/** A value was refused before it could reach a firewall command. */
export class UnsafeValueError extends WebknockError {
  constructor(what: string, value: unknown) {
    super("ERR_UNSAFE_VALUE", `Refusing ${what} ${JSON.stringify(value)}: it is not valid.`);
  }
}

/** A firewall command failed. */
export class FirewallError extends WebknockError {
  constructor(message: string, options?: ErrorOptions) {
    super("ERR_FIREWALL", message, options);
  }
}
