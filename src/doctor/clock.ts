import type { CommandRunner } from "../firewall/runner.js";
import type { Check, Finding } from "./types.js";

/**
 * TOTP codes change every 30 s and the gateway accepts the neighbouring step, so a clock
 * off by more than about 30 s refuses good codes. Warn well before that, fail at half.
 */
export const CLOCK_WARN_SECONDS = 2;
export const CLOCK_FAIL_SECONDS = 15;

/** Runs a command, treating "cannot run" (missing binary) like a failed one. */
async function tryRun(run: CommandRunner, file: string, args: readonly string[]) {
  try {
    const result = await run(file, args);
    return result.exitCode === 0 ? result.stdout : undefined;
  } catch {
    return undefined;
  }
}

/** The offset in seconds from `chronyc -c tracking` (field 5, "System time"), if chrony runs. */
export function parseChronyTracking(text: string): number | undefined {
  const field = text.trim().split(",")[4];
  const offset = Number(field);
  return field === undefined || field === "" || !Number.isFinite(offset) ? undefined : offset;
}

/** The offset in seconds from `ntpq -c rv` (`offset=` in milliseconds), if ntpd runs. */
export function parseNtpqOffset(text: string): number | undefined {
  const ms = /\boffset=(-?\d+(?:\.\d+)?)/.exec(text)?.[1];
  return ms === undefined ? undefined : Number(ms) / 1000;
}

function offsetFinding(source: string, offset: number): Finding {
  const abs = Math.abs(offset);
  const text = `${source} reports the clock ${abs.toFixed(3)} s ${offset > 0 ? "slow" : "fast"}`;
  if (abs >= CLOCK_FAIL_SECONDS) {
    return {
      severity: "problem",
      summary: `${text}: TOTP codes will be refused.`,
      fix: "Step the clock (`chronyc makestep`) and check the time daemon's sources.",
    };
  }
  if (abs >= CLOCK_WARN_SECONDS) {
    return {
      severity: "warning",
      summary: `${text}; TOTP tolerates about 30 s.`,
      fix: "Check the time daemon's sources (`chronyc sources`).",
    };
  }
  return { severity: "ok", summary: `${text}.` };
}

/** The clock is in sync, read from chrony, ntpd or systemd-timesyncd, whichever answers. */
export const clockCheck: Check = {
  name: "clock",
  async run(ctx) {
    const chrony = await tryRun(ctx.run, "chronyc", ["-c", "tracking"]);
    const chronyOffset = chrony === undefined ? undefined : parseChronyTracking(chrony);
    if (chronyOffset !== undefined) return [offsetFinding("chrony", chronyOffset)];
    const ntpq = await tryRun(ctx.run, "ntpq", ["-c", "rv"]);
    const ntpOffset = ntpq === undefined ? undefined : parseNtpqOffset(ntpq);
    if (ntpOffset !== undefined) return [offsetFinding("ntpd", ntpOffset)];
    const synced = await tryRun(ctx.run, "timedatectl", [
      "show",
      "-p",
      "NTPSynchronized",
      "--value",
    ]);
    if (synced?.trim() === "yes") {
      return [
        {
          severity: "ok",
          summary: "timedatectl reports the clock synchronised (offset not reported).",
        },
      ];
    }
    if (synced?.trim() === "no") {
      return [
        {
          severity: "problem",
          summary: "timedatectl reports the clock is not synchronised: TOTP codes may be refused.",
          fix: "Turn on time sync: `timedatectl set-ntp true`, or install chrony.",
        },
      ];
    }
    return [
      {
        severity: "warning",
        summary: "Clock sync is unknown: no chrony, ntpd or timedatectl answered.",
        fix: "Install and run a time daemon (apt-get install chrony); TOTP needs a clock within seconds.",
      },
    ];
  },
};
