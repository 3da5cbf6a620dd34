import { createServer, type AddressInfo } from "node:net";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_SECRET, DEMO_SEQUENCE, DEMO_USER } from "../../src/cli/commands/demo.js";
import { spawnCli, type CliProcess } from "../support/spawn-cli.js";

/** `webknock knock` from source, with no code source given. */
const knockArgs = (port: string) => [
  "--import",
  "tsx",
  "src/cli/main.ts",
  "knock",
  `http://127.0.0.1:${port}`,
  "--sequence",
  DEMO_SEQUENCE.join(","),
  "--user",
  DEMO_USER,
  "--json",
];

/**
 * Runs the knock inside a real pseudo-terminal (util-linux `script`), typing `typed` on
 * it: the CLI must ask on /dev/tty, the way it asks under ssh as a ProxyCommand.
 */
function knockAtTerminal(port: string, typed: string) {
  // script(1) runs its command through a shell: every word here is fixed or a number.
  const command = [`'${process.execPath}'`, ...knockArgs(port)].join(" ");
  return execa("script", ["-qec", command, "/dev/null"], {
    input: `${typed}\n`,
    reject: false,
    timeout: 30_000,
  });
}

describe("a knock with no code source asks on the terminal", () => {
  let demo: CliProcess;
  let port: string;
  beforeAll(async () => {
    demo = spawnCli(["demo", "--port", "0"]);
    port = (await demo.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/))[1] ?? "";
  });
  afterAll(async () => {
    await demo.stop();
  });

  it("opens with the code typed at the prompt (from oathtool, an independent TOTP client)", async () => {
    const { stdout: code } = await execa("oathtool", ["--totp", "-b", DEMO_SECRET]);
    const run = await knockAtTerminal(port, code.trim());
    expect(run.stdout).toContain(`webknock: code for ${DEMO_USER} at 127.0.0.1:${port}: `);
    expect(run.stdout).toMatch(/"granted":\{"door":"demo","ip":"127\.0\.0\.1"/);
    expect(run.exitCode).toBe(0);
  });

  it("refuses a mistyped code before sending anything (usage exit 2)", async () => {
    // A listener that only counts: the knock must not even connect.
    let connections = 0;
    const counter = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => counter.listen(0, "127.0.0.1", resolve));
    try {
      const { port: counted } = counter.address() as AddressInfo;
      const run = await knockAtTerminal(String(counted), "12x45");
      expect(run.stdout).toContain("The code is the six digits your authenticator app shows.");
      expect(run.exitCode).toBe(2);
      expect(connections).toBe(0);
    } finally {
      counter.close();
    }
  });

  it("with no terminal, fails at once with the usage error that names every code source", async () => {
    const run = await execa(process.execPath, knockArgs(port), {
      stdin: "ignore",
      reject: false,
      timeout: 30_000,
    });
    expect(run.stderr).toContain(
      "No code: pass --secret-file FILE, --code DIGITS or use --profile.",
    );
    expect(run.exitCode).toBe(2);
  });
});
