import type { Command } from "commander";
import { closeGrant, CLOSE_TOKEN, type ClosedGrant } from "../../client/close.js";
import { knock, KnockError, type KnockFailure, type KnockGrant } from "../../client/knock.js";
import { CliUsageError, EXIT, ExitError } from "../config-option.js";
import type { CliDeps } from "../deps.js";
import {
  resolveKnock,
  resolveSequence,
  resolveTarget,
  withKnockOptions,
  type KnockOptions,
} from "../knock-request.js";
import {
  closeTokenPath,
  dropCloseToken,
  readCloseToken,
  saveCloseToken,
} from "../close-token-file.js";

/** `knock`'s own options beside the shared ones. */
interface KnockCommandOptions extends KnockOptions {
  json?: boolean;
  close?: boolean;
  token?: string;
}

/** Exit code per failure: the gateway said no (3), could not talk to it (4), anything else (1). */
export const FAILURE_EXIT: Readonly<Record<KnockFailure, number>> = {
  denied: EXIT.denied,
  "no-challenge": EXIT.denied,
  unreachable: EXIT.unreachable,
  tls: EXIT.unreachable,
  unavailable: EXIT.error,
  protocol: EXIT.error,
  "invalid-request": EXIT.usage,
  "not-closed": EXIT.denied,
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
    .option("--close", "close the grant of the last knock (same profile) instead of knocking")
    .option("--token <token>", "with --close: the close token to use instead of the saved one")
    .action(async (url: string | undefined, options: KnockCommandOptions) => {
      try {
        if (options.close === true || options.token !== undefined) {
          const tokenFile = closeTokenPath(deps.env, options.profile);
          const closed = await closeGrant(resolveClose(url, options, tokenFile, deps));
          if (options.token === undefined && tokenFile !== undefined) dropCloseToken(tokenFile);
          deps.stdout.write(
            options.json === true ? `${JSON.stringify({ closed })}\n` : describeClosed(closed),
          );
          return;
        }
        const { request } = resolveKnock(url, options, deps);
        const grant = await knock(request);
        const warning = saveCloseToken(closeTokenPath(deps.env, options.profile), grant);
        if (warning !== undefined) deps.stderr.write(`${warning}\n`);
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

/** Where and which door, for a close; the token from --token or the saved file. */
function resolveClose(
  url: string | undefined,
  options: KnockCommandOptions,
  tokenFile: string | undefined,
  deps: CliDeps,
) {
  if (options.close !== true)
    throw new CliUsageError("--token goes with --close: webknock knock --close --token TOKEN.");
  if (options.token !== undefined && !CLOSE_TOKEN.test(options.token))
    throw new CliUsageError("--token takes the close token a knock printed (base64url).");
  const { target, profile } = resolveTarget(url, options, deps);
  return {
    ...target,
    sequence: resolveSequence(options, profile, deps),
    token: options.token ?? readCloseToken(tokenFile),
  };
}

/** One line for people: what closed, for whom. */
function describeClosed(closed: ClosedGrant): string {
  return `Closed ${closed.ports.join(", ")} for ${closed.ip} (door ${closed.door}); open connections stay up.\n`;
}

/** One line for people: what opened, for whom, and until when (UTC and seconds). */
export function describeGrant(grant: KnockGrant): string {
  if (grant.ports.length === 0)
    return `Opened door ${grant.door} (tunnel only) for ${grant.ip} for ${grant.openFor} s, until ${grant.expiresAt}.\n`;
  return `Opened ${grant.ports.join(", ")} for ${grant.ip} (door ${grant.door}) for ${grant.openFor} s, until ${grant.expiresAt}.\n`;
}
