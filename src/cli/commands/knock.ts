import type { Command } from "commander";
import { knock, KnockError, type KnockFailure, type KnockGrant } from "../../client/knock.js";
import { EXIT, ExitError } from "../config-option.js";
import type { CliDeps } from "../deps.js";
import { resolveKnock, withKnockOptions, type KnockOptions } from "../knock-request.js";

/** Exit code per failure: the gateway said no (3), could not talk to it (4), anything else (1). */
export const FAILURE_EXIT: Readonly<Record<KnockFailure, number>> = {
  denied: EXIT.denied,
  "no-challenge": EXIT.denied,
  unreachable: EXIT.unreachable,
  tls: EXIT.unreachable,
  unavailable: EXIT.error,
  protocol: EXIT.error,
  "invalid-request": EXIT.usage,
};

/** `webknock knock URL --sequence /a,/b,/c --user NAME --secret-file F | --code N | --profile P`. */
export function registerKnockCommands(program: Command, deps: CliDeps): void {
  withKnockOptions(
    program
      .command("knock")
      .description(
        "knock on a gateway: walk the sequence, answer the challenge, print what opened",
      ),
  )
    .option("--json", "print the result as JSON")
    .action(async (url: string | undefined, options: KnockOptions & { json?: boolean }) => {
      const { request } = resolveKnock(url, options, deps);
      try {
        const grant = await knock(request);
        deps.stdout.write(
          options.json === true ? `${JSON.stringify({ granted: grant })}\n` : describeGrant(grant),
        );
      } catch (error) {
        if (!(error instanceof KnockError)) throw error;
        if (options.json === true)
          deps.stdout.write(
            `${JSON.stringify({ error: error.failure, code: error.code, message: error.message, fix: error.fix })}\n`,
          );
        deps.stderr.write(`webknock: ${error.describe()}\n`);
        throw new ExitError(FAILURE_EXIT[error.failure]);
      }
    });
}

/** One line for people: what opened, for whom, and until when (UTC and seconds). */
export function describeGrant(grant: KnockGrant): string {
  return `Opened ${grant.ports.join(", ")} for ${grant.ip} (door ${grant.door}) for ${grant.openFor} s, until ${grant.expiresAt}.\n`;
}
