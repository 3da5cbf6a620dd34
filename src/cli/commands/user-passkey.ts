import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import QRCode from "qrcode";
import { pino } from "pino";
import type { GatewayConfig, UserConfig } from "../../config/types.js";
import {
  PasskeyFileError,
  readCredentials,
  updateCredentials,
  type StoredCredential,
} from "../../passkey/credentials.js";
import { ENROLLMENT_TTL_MS } from "../../passkey/enrollments.js";
import { createStoreBackend } from "../../store/backend.js";
import { silentLogger } from "../../log.js";
import { CliUsageError, loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

interface Options {
  config?: string;
  url?: string;
  json?: boolean;
  all?: boolean;
}

/**
 * `webknock user passkey add|list|remove NAME [ID]`: one-time enrollment URLs (put in the
 * shared store, served by the running gateway) and the user's passkey file. Each change
 * is an audit line (pino JSON) on stderr, beside the human output on stdout.
 */
export function registerPasskeyCommands(user: Command, deps: CliDeps): void {
  const passkey = user.command("passkey").description("enroll, list and remove users' passkeys");
  const audit = pino(
    { base: { app: "webknock-cli" } },
    { write: (s: string) => deps.stderr.write(s) },
  );

  withConfigOption(
    passkey
      .command("add")
      .description("print a one-time enrollment URL (valid 10 minutes) and its QR code")
      .argument("<name>", "user name, with passkeys: FILE in the config")
      .option("--url <base>", "the gateway's URL as the person opens it (default: server.origin)"),
  ).action(async (name: string, options: Options) => {
    const config = loadCliConfig(options, deps);
    const userConfig = passkeyUser(config, name);
    if (config.store.redis === undefined)
      throw new CliUsageError(
        "Enrollment URLs live in the store the running gateway reads, and this config keeps its state in the gateway's memory. Set store.redis (the gateway and this command share it).",
      );
    const base = (options.url ?? config.server.origin ?? "").replace(/\/+$/, "");
    const token = randomBytes(24).toString("base64url");
    const expiresAt = deps.now() + ENROLLMENT_TTL_MS;
    const backend = createStoreBackend(config, { now: deps.now, log: silentLogger() });
    try {
      await backend.connect();
      await backend.enrollments.put({ token, user: name, expiresAt });
    } finally {
      await backend.close();
    }
    audit.info(
      {
        event: "passkey-enrollment-created",
        user: name,
        expiresAt: new Date(expiresAt).toISOString(),
        file: userConfig.passkeys,
      },
      "passkey enrollment URL created",
    );
    const url = `${base}/${token}`;
    const qr = await QRCode.toString(url, { type: "terminal", small: true });
    deps.stdout.write(
      [
        `Enrollment URL for ${name} (works once, until ${new Date(expiresAt).toISOString()}; give it only to ${name}):`,
        `  ${url}`,
        "",
        qr,
        `The gateway answers it within a second and appends the passkey to ${userConfig.passkeys ?? ""}.`,
        "",
      ].join("\n"),
    );
  });

  withConfigOption(
    passkey
      .command("list")
      .description("list a user's passkeys")
      .argument("<name>", "user name")
      .option("--json", "print JSON"),
  ).action(async (name: string, options: Options) => {
    const credentials = await read(passkeyUser(loadCliConfig(options, deps), name));
    if (options.json === true) {
      deps.stdout.write(
        `${JSON.stringify(credentials.map(({ publicKey: _, ...rest }) => rest))}\n`,
      );
      return;
    }
    if (credentials.length === 0) {
      deps.stdout.write(
        `${name} has no passkeys; add one with 'webknock user passkey add ${name}'.\n`,
      );
      return;
    }
    const lines = credentials.map(
      (c) =>
        `  ${c.id}  added ${c.createdAt}  counter ${c.counter}  ${c.transports.join(",") || "-"}`,
    );
    deps.stdout.write(`Passkeys of ${name}:\n${lines.join("\n")}\n`);
  });

  withConfigOption(
    passkey
      .command("remove")
      .description("remove one passkey (by ID, or a unique start of it), or all with --all")
      .argument("<name>", "user name")
      .argument("[id]", "credential ID as 'list' shows it")
      .option("--all", "remove every passkey of the user"),
  ).action(async (name: string, id: string | undefined, options: Options) => {
    const userConfig = passkeyUser(loadCliConfig(options, deps), name);
    if ((id === undefined) === (options.all !== true))
      throw new CliUsageError(
        "Give the passkey's ID (see 'webknock user passkey list') or --all, not both.",
      );
    const path = userConfig.passkeys ?? "";
    const removed = await updateCredentials(path, (list) => {
      const gone = id === undefined ? list : matching(list, id, name);
      return { next: list.filter((c) => !gone.includes(c)), result: gone };
    }).catch(rethrowFileError);
    for (const c of removed)
      audit.info(
        { event: "passkey-removed", user: name, credential: c.id, file: path },
        "passkey removed",
      );
    deps.stdout.write(`Removed ${removed.length} passkey(s) of ${name} from ${path}.\n`);
  });
}

/** The user, who must have a passkey file in the config. */
function passkeyUser(config: GatewayConfig, name: string): UserConfig {
  const user = config.users.get(name);
  if (user === undefined)
    throw new CliUsageError(
      `No user ${JSON.stringify(name)} in the config; add it under users: first.`,
    );
  if (user.passkeys === undefined)
    throw new CliUsageError(
      `users.${name} has no passkey file. Add passkeys: /etc/webknock/${name}.passkeys (and passkey to its factors), and server.rpId and server.origin.`,
    );
  return user;
}

/** The one credential whose ID is `id` or starts with it. */
function matching(list: StoredCredential[], id: string, name: string): StoredCredential[] {
  const exact = list.filter((c) => c.id === id);
  const found = exact.length > 0 ? exact : list.filter((c) => c.id.startsWith(id));
  if (found.length === 1) return found;
  throw new CliUsageError(
    found.length === 0
      ? `${name} has no passkey ${JSON.stringify(id)}; see 'webknock user passkey list ${name}'.`
      : `${JSON.stringify(id)} starts ${found.length} passkeys' IDs; give more of it.`,
  );
}

async function read(user: UserConfig): Promise<StoredCredential[]> {
  return readCredentials(user.passkeys ?? "").catch(rethrowFileError);
}

function rethrowFileError(error: unknown): never {
  if (error instanceof PasskeyFileError) throw new CliUsageError(error.message);
  throw error;
}
