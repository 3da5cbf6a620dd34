import { describe, expect, it } from "vitest";
import { clockCheck, parseChronyTracking, parseNtpqOffset } from "../../src/doctor/clock.js";
import type { CommandResult, CommandRunner } from "../../src/firewall/runner.js";
import { FirewallError } from "../../src/errors.js";
import { contextFor, rawConfig } from "./support.js";

/** Real outputs of chronyc -c tracking and ntpq -c rv (trimmed), offsets 0.000012 s and 3.2 ms. */
const CHRONY =
  "A9FEA97B,169.254.169.123,4,1764669283.123456,0.000012345,-0.000001,0.000002,-11.5,0.001,0.02,0.0004,0.00002,64.4,Normal\n";
const NTPQ =
  'associd=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,\nversion="ntpd 4.2.8p15", processor="x86_64", offset=3.215, frequency=-11.5\n';

/** A runner answering from a table; a binary not in it cannot be started, as on a real host. */
function fakeRunner(answers: Record<string, CommandResult>): CommandRunner {
  return (file) => {
    const answer = answers[file];
    if (answer === undefined)
      return Promise.reject(new FirewallError(`Cannot run ${file}: ENOENT`));
    return Promise.resolve(answer);
  };
}
const ok = (stdout: string): CommandResult => ({ stdout, stderr: "", exitCode: 0 });
const runClock = (answers: Record<string, CommandResult>) =>
  clockCheck.run(contextFor(rawConfig("log", ["tcp/22"]), fakeRunner(answers)));

describe("the clock check", () => {
  it("parses the time daemons' offsets", () => {
    expect(parseChronyTracking(CHRONY)).toBeCloseTo(0.000012345);
    expect(parseChronyTracking("506Cannot talk to daemon")).toBeUndefined();
    expect(parseNtpqOffset(NTPQ)).toBeCloseTo(0.003215);
    expect(parseNtpqOffset("no offset here")).toBeUndefined();
  });

  it("reads chrony first, then ntpd, then timedatectl, and says when it cannot tell", async () => {
    expect((await runClock({ chronyc: ok(CHRONY) }))[0]?.severity).toBe("ok");
    const far = await runClock({ chronyc: ok(CHRONY.replace("0.000012345", "-20.5")) });
    expect(far[0]).toMatchObject({
      severity: "problem",
      summary: expect.stringContaining("20.500 s fast"),
    });
    expect((await runClock({ ntpq: ok(NTPQ.replace("3.215", "4000")) }))[0]?.severity).toBe(
      "warning",
    );
    expect((await runClock({ timedatectl: ok("no\n") }))[0]?.severity).toBe("problem");
    expect((await runClock({ timedatectl: ok("yes\n") }))[0]?.severity).toBe("ok");
    const unknown = await runClock({});
    expect(unknown[0]).toMatchObject({
      severity: "warning",
      summary: expect.stringContaining("unknown"),
    });
  });
});
