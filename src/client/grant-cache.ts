import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { KnockGrant } from "./knock.js";

/**
 * A grant needs this long left to be worth a tunnel: connecting, a proxy's CONNECT and
 * the TLS handshake take a few round trips, and the gateway checks the grant when the
 * tunnel arrives, not when it leaves.
 */
export const GRANT_MARGIN_MS = 5_000;

/**
 * Where `webknock tunnel` remembers grants: `$XDG_STATE_HOME/webknock/grants`, else
 * `~/.local/state/webknock/grants`. Undefined when neither is known (nothing is cached).
 */
export function grantCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, "webknock", "grants");
  if (env.HOME) return join(env.HOME, ".local", "state", "webknock", "grants");
  return undefined;
}

/**
 * The grant last obtained for one gateway and door, in a 0600 file (a 0700 directory)
 * named by a hash of what identifies the door: the gateway's origin and the sequence
 * (or the rotating door's key file). It holds only what the gateway printed (door, IP,
 * ports, expiry): nothing secret, but nobody else needs to know when you hold a grant.
 */
export class GrantCache {
  private readonly file: string | undefined;

  constructor(dir: string | undefined, identity: string) {
    const name = createHash("sha256").update(identity).digest("hex").slice(0, 32);
    this.file = dir === undefined ? undefined : join(dir, `${name}.json`);
  }

  /** The cached grant when it still has GRANT_MARGIN_MS to run at `now`; else undefined. */
  live(now: number): KnockGrant | undefined {
    if (this.file === undefined) return undefined;
    let grant: unknown;
    try {
      grant = JSON.parse(readFileSync(this.file, "utf8"));
    } catch {
      return undefined; // no file, or a torn or foreign one: knock
    }
    const expiresAt = Date.parse((grant as Partial<KnockGrant> | null)?.expiresAt ?? "");
    return Number.isFinite(expiresAt) && expiresAt - now >= GRANT_MARGIN_MS
      ? (grant as KnockGrant)
      : undefined;
  }

  /** Records a grant; a failure to write only costs a knock next time, so it is ignored. */
  save(grant: KnockGrant): void {
    if (this.file === undefined) return;
    try {
      mkdirSync(join(this.file, ".."), { recursive: true, mode: 0o700 });
      // Write then rename, so a tunnel starting at the same moment never reads half a file.
      const temp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(grant), { mode: 0o600 });
      chmodSync(temp, 0o600);
      renameSync(temp, this.file);
    } catch {
      // Read-only home, full disk: the tunnel works, the next one knocks again.
    }
  }

  /** Forgets the grant (the gateway refused a tunnel under it: revoked, or our address changed). */
  forget(): void {
    if (this.file === undefined) return;
    try {
      writeFileSync(this.file, "{}", { mode: 0o600 });
    } catch {
      // Nothing cached, or not writable: the next tunnel knocks either way.
    }
  }
}
