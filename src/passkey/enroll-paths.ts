import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import type { Enrollment, EnrollmentStore } from "./enrollments.js";

/** How often the gateway looks for enrollments the CLI created: a new URL works within this. */
export const ENROLLMENT_POLL_MS = 1000;

/**
 * The pending enrollment URLs this gateway answers, polled from the store (where the CLI
 * puts them), so recognising one costs a Map lookup like a knock path: a random path is
 * never a store round trip, and before and after its life an enrollment path is one more
 * unknown path answered by the decoy.
 */
export class EnrollmentPaths {
  private paths = new Map<string, Enrollment>();
  /**
   * Paths taken here, until their enrollment would have expired: a refresh whose read
   * began before the take must not bring the used page back.
   */
  private readonly taken = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly store: EnrollmentStore,
    private readonly now: Clock,
    private readonly log: Logger,
  ) {}

  /** The live enrollment at `path` (`/TOKEN`), if any. */
  lookup(path: string): Enrollment | undefined {
    const found = this.paths.get(path);
    return found !== undefined && found.expiresAt > this.now() ? found : undefined;
  }

  /** Reads the pending enrollments again; a store failure keeps the last view and is logged once. */
  async refresh(): Promise<void> {
    try {
      const list = await this.store.list();
      const now = this.now();
      for (const [path, expiresAt] of this.taken) if (expiresAt <= now) this.taken.delete(path);
      const next = new Map(
        list.filter((e) => !this.taken.has(`/${e.token}`)).map((e) => [`/${e.token}`, e]),
      );
      for (const [path, e] of next)
        if (!this.paths.has(path))
          this.log.info(
            { event: "passkey-enrollment-live", user: e.user, expiresAt: e.expiresAt },
            "a passkey enrollment URL is live",
          );
      this.paths = next;
      this.failing = false;
    } catch (error) {
      if (!this.failing)
        this.log.error({ event: "unavailable", err: error }, "cannot read pending enrollments");
      this.failing = true;
    }
  }

  /** Removes the enrollment here and takes it from the store: true for exactly one caller. */
  take(token: string): Promise<Enrollment | undefined> {
    const path = `/${token}`;
    const expiresAt = this.paths.get(path)?.expiresAt ?? this.now() + 10 * 60_000;
    this.taken.set(path, expiresAt);
    this.paths.delete(path);
    return this.store.take(token);
  }

  /** Polls every `intervalMs` (the timer never keeps the process alive). */
  start(intervalMs = ENROLLMENT_POLL_MS): Promise<void> {
    this.stop();
    this.timer = setInterval(() => void this.refresh(), intervalMs);
    this.timer.unref();
    return this.refresh();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
