import type { Command } from "commander";
import QRCode from "qrcode";
import { generateURI } from "otplib";
import { resolveConfig } from "../../config/load.js";
import { DEMO_SECRET } from "../../config/secret.js";
import type { GatewayConfig } from "../../config/types.js";
import { createLogger } from "../../log.js";
import { CliUsageError } from "../config-option.js";
import type { CliDeps } from "../deps.js";
import { runUntilSignal } from "./serve.js";

/** A fixed, public demo secret: the demo opens nothing (log firewall) and binds to loopback. */
export { DEMO_SECRET };
export const DEMO_USER = "demo";
export const DEMO_SEQUENCE = ["/demo/7f3a.png", "/demo/c41e", "/demo/knock"] as const;

/** The embedded defaults: memory store, dry-run firewall, one door, one user, loopback only. */
export function demoConfig(port: number, host = "127.0.0.1"): GatewayConfig {
  return resolveConfig(
    {
      server: { listen: [{ host, port }], trustProxy: [] },
      firewall: { backend: "log" },
      doors: {
        demo: {
          sequence: [...DEMO_SEQUENCE],
          sequenceTimeout: "30s",
          challengeTimeout: "120s",
          open: ["tcp/22"],
          openFor: "30s",
          users: [DEMO_USER],
        },
      },
      users: { [DEMO_USER]: { secret: DEMO_SECRET } },
    },
    { env: {}, readFile: () => "" },
    "the embedded demo config",
    { allowDemoSecret: true },
  );
}

/** `webknock demo`: runs the gateway on embedded defaults and prints how to knock. */
export function registerDemoCommands(program: Command, deps: CliDeps): void {
  program
    .command("demo")
    .description("run a demo gateway on 127.0.0.1 (memory store, dry-run firewall)")
    .option("-p, --port <port>", "port to listen on", "8080")
    .option("--log-level <level>", "pino log level", "info")
    .action(async (options: { port: string; logLevel: string }) => {
      const port = Number(options.port);
      // Number("x") is NaN and listen() would throw a bare RangeError; say what to write.
      if (!/^\d{1,5}$/.test(options.port) || port > 65535)
        throw new CliUsageError(
          `--port ${JSON.stringify(options.port)}: write a port number from 0 to 65535.`,
        );
      const config = demoConfig(port);
      const log = createLogger({ level: options.logLevel, destination: process.stderr });
      await runUntilSignal(config, deps, log, async (urls) => {
        deps.stdout.write(await demoBanner(urls[0] ?? `http://127.0.0.1:${options.port}`));
      });
    });
}

/** What the demo prints: URLs, secret, QR code and a curl recipe that works as written. */
export async function demoBanner(base: string): Promise<string> {
  const uri = generateURI({ issuer: "webknock demo", label: DEMO_USER, secret: DEMO_SECRET });
  const qr = await QRCode.toString(uri, { type: "terminal", small: true });
  const [one, two, last] = DEMO_SEQUENCE;
  return `
webknock demo: listening on ${base} (memory store, dry-run "log" firewall: nothing is opened)

Knock URLs, in order, within 30 s:
  ${base}${one}
  ${base}${two}
  ${base}${last}   <- answers with the code form

User: ${DEMO_USER}    Secret (base32, public demo value): ${DEMO_SECRET}
otpauth URI: ${uri}
Scan with an authenticator app:
${qr}
Curl recipe (needs oathtool):
  B=${base}
  curl -s $B${one} >/dev/null; curl -s $B${two} >/dev/null
  C=$(curl -s -H 'Accept: application/json' $B${last} | sed -n 's/.*"challenge":"\\([^"]*\\)".*/\\1/p')
  curl -s -H 'Accept: application/json' -d "challenge=$C" -d user=${DEMO_USER} \\
       -d "code=$(oathtool --totp -b ${DEMO_SECRET})" $B${last}

Press Ctrl-C to stop.
`;
}
