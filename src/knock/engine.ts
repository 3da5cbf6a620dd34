import { randomBytes } from "node:crypto";
import type { DoorConfig, GatewayConfig, UserConfig } from "../config/types.js";
import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { CidrSet } from "../net/ip.js";
import type { AdvanceOutcome, KnockStore } from "../store/types.js";
import type { GrantManager } from "./grants.js";
import { logCollision, StepTable } from "./rotation.js";
import { isWellFormedCode, TOTP_REPLAY_TTL_MS, verifyTotp } from "./totp.js";
import { checkPasskey, type PasskeyCheckDeps } from "./passkey-redeem.js";
import type {
  AttemptLimiter,
  DenyReason,
  KnockObserver,
  RedeemResult,
  Redemption,
  StepRef,
  StepResult,
} from "./types.js";

export type * from "./types.js";

/** How long a knocker waits for agents' hosts to confirm (issue 13: "say, 1 s"). */
const HOST_WAIT_MS = 1000;

/** The answer of every step that issues no challenge; shared, as it carries nothing. */
const DECOY_STEP: StepResult = Object.freeze({ kind: "decoy" });

/** Challenge tokens carry 128 random bits, like a session id. */
const CHALLENGE_BYTES = 16;
/** Verified against an unknown user's attempt so its timing matches a known one. */
const DUMMY_SECRET = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/** What the engine is built from, injected. */
export interface KnockEngineDeps {
  /** The validated config: doors, their sequences and sources, users. */
  readonly config: GatewayConfig;
  /** Knock state: progress, challenges, used TOTP steps. */
  readonly store: KnockStore;
  /** Opens the firewall for a redeemed challenge. */
  readonly grants: GrantManager;
  /** The time TOTP codes are checked against. */
  readonly now: Clock;
  /** Audit log: challenges, grants, denials. */
  readonly log: Logger;
  /** Brute-force policy; none means codes are never rate limited (tests only). */
  readonly limiter?: AttemptLimiter;
  /** Metrics hooks; none by default. */
  readonly observer?: KnockObserver;
}

/** The knock state machine: path steps, challenges, TOTP redemption, grants. */
export class KnockEngine {
  private readonly steps: StepTable;
  private readonly doorSources = new Map<string, CidrSet>();
  private readonly userSources = new Map<string, CidrSet>();
  private readonly config: GatewayConfig;
  private readonly store: KnockStore;
  private readonly grants: GrantManager;
  private readonly now: Clock;
  private readonly log: Logger;
  private readonly limiter: AttemptLimiter | undefined;
  private readonly observer: KnockObserver;
  /** Set when the config has passkey users (server.rpId and origin are then present). */
  private readonly passkeys: PasskeyCheckDeps | undefined;

  constructor(deps: KnockEngineDeps) {
    const { config } = deps;
    this.config = config;
    this.store = deps.store;
    this.grants = deps.grants;
    this.now = deps.now;
    this.log = deps.log;
    this.limiter = deps.limiter;
    this.observer = deps.observer ?? {};
    this.steps = new StepTable(config.doors, deps.now, logCollision(deps.log));
    for (const door of config.doors) {
      if (door.sources.length > 0) this.doorSources.set(door.name, new CidrSet(door.sources));
    }
    for (const user of config.users.values()) {
      if (user.sources.length > 0) this.userSources.set(user.name, new CidrSet(user.sources));
    }
    const { rpId, origin } = config.server;
    this.passkeys =
      rpId === undefined || origin === undefined
        ? undefined
        : {
            rp: { rpId, origin },
            users: config.users,
            limiter: this.limiter,
            log: this.log,
            inUserSources: (user, ip) => inSources(this.userSources.get(user), ip),
          };
  }

  /** server.rpId and origin when some user has passkeys: the challenge page offers one. */
  get relyingParty(): PasskeyCheckDeps["rp"] | undefined {
    return this.passkeys?.rp;
  }

  /** True when a passkey user may open this door (its challenge page offers "Use passkey"). */
  offersPasskey(door: DoorConfig): boolean {
    return (
      this.passkeys !== undefined &&
      door.users.some((name) => this.config.users.get(name)?.factors.includes("passkey"))
    );
  }

  /** The step a path is, if any: one Map lookup, no store access (rotating paths included). */
  lookup(path: string): StepRef | undefined {
    return this.steps.lookup(path);
  }

  /**
   * Applies a GET of a step path from `ip`; one store round trip at most. Not an async
   * function, to spare the hot path a promise and a microtask per request: the store's
   * promise is chained directly, and anything thrown synchronously still becomes a rejection.
   */
  step(ref: StepRef, ip: string): Promise<StepResult> {
    try {
      const { door, index, last } = ref;
      if (!inSources(this.doorSources.get(door.name), ip)) return Promise.resolve(DECOY_STEP);
      const token = last ? randomBytes(CHALLENGE_BYTES).toString("base64url") : "";
      return this.store
        .advance({
          door: door.name,
          ip,
          step: index,
          length: door.steps,
          sequenceTimeoutMs: door.sequenceTimeoutMs,
          challenge: { token, ttlMs: door.challengeTimeoutMs },
        })
        .then((outcome) => this.stepped(door, ip, token, outcome));
    } catch (error) {
      return rejection(error);
    }
  }

  private stepped(
    door: DoorConfig,
    ip: string,
    token: string,
    outcome: AdvanceOutcome,
  ): StepResult {
    this.observer.onStep?.(door.name);
    if (outcome !== "challenge") return DECOY_STEP;
    this.observer.onChallenge?.(door.name);
    this.log.info({ event: "challenge", ip, door: door.name }, "challenge issued");
    return {
      kind: "challenge",
      door,
      token,
      expiresInSeconds: Math.floor(door.challengeTimeoutMs / 1000),
    };
  }

  /**
   * True when a POST to this step may carry a redemption worth reading: the step is a
   * door's last and the store holds a live challenge for this door and IP. One store read
   * that changes nothing; the edge asks it before reading a byte of the body.
   */
  hasChallenge(ref: StepRef, ip: string): Promise<boolean> {
    if (!ref.last) return Promise.resolve(false);
    try {
      return this.store.hasChallenge(ref.door.name, ip);
    } catch (error) {
      return rejection(error);
    }
  }

  /**
   * Redeems a challenge with a user and a code. Without a live challenge bound to this
   * door and IP the answer is the decoy; with one, it is consumed whatever follows.
   */
  async redeem(ref: StepRef, ip: string, input: Redemption): Promise<RedeemResult> {
    const { door } = ref;
    if (!ref.last || typeof input.challenge !== "string" || input.challenge.length > 64)
      return { kind: "decoy" };
    if (!(await this.store.takeChallenge(input.challenge, door.name, ip))) return { kind: "decoy" };

    const userName = typeof input.user === "string" ? input.user : "";
    const user = door.users.includes(userName) ? this.config.users.get(userName) : undefined;
    const audit = { ip, door: door.name, user: userName.slice(0, 64) };
    const deny = (reason: DenyReason): RedeemResult => {
      this.log.warn({ event: "denial", reason, ...audit }, "knock denied");
      this.observer.onDenial?.(door.name, reason);
      return { kind: "denied", reason };
    };

    if (input.passkey !== undefined && input.passkey !== "" && this.passkeys !== undefined) {
      const check = await checkPasskey(this.passkeys, door, ip, input.challenge, input);
      if (!check.ok) {
        this.log.warn(
          {
            event: "denial",
            reason: check.reason,
            ip,
            door: door.name,
            user: check.user ?? audit.user,
            factor: "passkey",
          },
          "knock denied",
        );
        this.observer.onDenial?.(door.name, check.reason);
        return { kind: "denied", reason: check.reason };
      }
      await this.limiter?.succeed(check.user, ip);
      return this.open(door, ip, { ...audit, user: check.user, factor: "passkey" });
    }
    if (!isWellFormedCode(input.code)) return deny("malformed-code");
    // Every refusal below does the same work (a limiter check, one TOTP verification, a
    // failure recorded), so its timing tells no one whether the name exists or whether
    // the caller is outside the user's sources. A failure counts against a user only when
    // the user is a member of this door and the caller is inside the user's sources;
    // otherwise against the IP only (so nobody can lock a user out from elsewhere).
    const outsider = user !== undefined && !inSources(this.userSources.get(user.name), ip);
    const accountable = outsider ? undefined : user;
    if (this.limiter && !(await this.limiter.check(accountable?.name, ip))) return deny("locked");

    // A passkey-only user has no secret: the dummy's check fails, as a wrong code does.
    const totpUser = user?.factors.includes("totp") === true ? user : undefined;
    const timeStep = await verifyTotp(totpUser?.secret ?? DUMMY_SECRET, input.code, this.now());
    if (user === undefined || outsider || timeStep === undefined || totpUser === undefined) {
      await this.limiter?.fail(accountable?.name, ip);
      return deny(
        user === undefined ? "user-not-allowed" : outsider ? "source-not-allowed" : "wrong-code",
      );
    }
    if (!(await this.store.claimTotpStep(user.name, timeStep, TOTP_REPLAY_TTL_MS))) {
      await this.limiter?.fail(user.name, ip);
      return deny("replay");
    }
    await this.limiter?.succeed(user.name, ip);
    return this.open(door, ip, { ...audit, factor: "totp" });
  }

  /** Opens the door for a proven user: the same grant, log line and answer for every factor. */
  private async open(
    door: DoorConfig,
    ip: string,
    audit: { readonly user: string; readonly factor: "totp" | "passkey" },
  ): Promise<RedeemResult> {
    const grant = await this.grants.open(door, ip, audit.user);
    this.observer.onGrant?.(door.name);
    this.log.info(
      {
        event: "grant",
        ip,
        door: door.name,
        ...audit,
        ports: door.open,
        expiresAt: grant.expiresAt,
      },
      "door opened",
    );
    return { kind: "granted", grant, hosts: await this.grants.hostStates(grant, HOST_WAIT_MS) };
  }

  /** The user record for a name, if configured. */
  user(name: string): UserConfig | undefined {
    return this.config.users.get(name);
  }
}

/** A promise rejected with what was thrown (an Error as is), as an async function would. */
function rejection(error: unknown): Promise<never> {
  return Promise.reject(error instanceof Error ? error : new Error(String(error)));
}

function inSources(sources: CidrSet | undefined, ip: string): boolean {
  return sources === undefined || sources.has(ip);
}
