import { resolveConfig } from "../../src/config/load.js";
import { systemContext } from "../../src/doctor/index.js";
import type { DoctorContext } from "../../src/doctor/types.js";
import type { CommandRunner } from "../../src/firewall/runner.js";

/** A config as written, with one door on `ports` and an inline secret. */
export function rawConfig(backend: string, ports: readonly string[]): Record<string, unknown> {
  return {
    firewall: { backend },
    doors: { ssh: { sequence: ["/a"], open: [...ports], users: ["alice"] } },
    users: { alice: { secret: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JPORSXG5DT" } },
  };
}

/** The doctor's real context over `raw`, with the commands run by `run` (a netns's runner). */
export function contextFor(
  raw: Record<string, unknown>,
  run: CommandRunner,
  overrides: Partial<DoctorContext> = {},
): DoctorContext {
  const config = resolveConfig(raw, { env: {}, readFile: () => "" });
  return {
    ...systemContext(config, raw, "/etc/webknock/webknock.yaml", run, Date.now),
    ...overrides,
  };
}
