import type { Command } from "commander";
import { AdminClient, AdminError, type AdminFailure } from "../../client/admin.js";
import { canonicalIp } from "../../net/ip.js";
import { CliUsageError, EXIT, ExitError } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/** Where the admin API listens by default (config `admin.listen`). */
export const DEFAULT_ADMIN_URL = "http://127.0.0.1:9090";

interface AdminOptions {
  adminUrl?: string;
  tokenFile?: string;
  json?: boolean;
}

const FAILURE_EXIT: Readonly<Record<AdminFailure, number>> = {
  unauthorized: EXIT.denied,
  unreachable: EXIT.unreachable,
  "bad-request": EXIT.usage,
  "not-found": EXIT.error,
  unavailable: EXIT.error,
  protocol: EXIT.error,
};

/** `webknock grants list|revoke`, `webknock bans list|unban` and `webknock reload`, over the admin API. */
export function registerAdminCommands(program: Command, deps: CliDeps): void {
  const grants = program.command("grants").description("list or revoke open grants (admin API)");
  withAdminOptions(grants.command("list").description("list open grants")).action(
    (options: AdminOptions) =>
      run(deps, options, async (client) => {
        const list = await client.listGrants();
        if (options.json === true) return `${JSON.stringify({ grants: list })}\n`;
        if (list.length === 0) return "No open grants.\n";
        return table(
          ["DOOR", "IP", "USER", "PORTS", "LEFT", "EXPIRES"],
          list.map((g) => [
            g.door,
            g.ip,
            g.user,
            g.ports.join(","),
            `${g.remainingSeconds}s`,
            g.expiresAt,
          ]),
        );
      }),
  );
  withAdminOptions(
    grants
      .command("revoke")
      .description("close a grant now")
      .argument("<door>", "door name")
      .argument("<ip>", "client IP address"),
  ).action((door: string, ip: string, options: AdminOptions) =>
    run(deps, options, async (client) => {
      const revoked = await client.revokeGrant(door, checkIp(ip));
      if (options.json === true) return `${JSON.stringify({ revoked })}\n`;
      return `Revoked ${revoked.ports.join(", ")} for ${revoked.ip} on door ${revoked.door} (user ${revoked.user}).\n`;
    }),
  );

  withAdminOptions(
    program
      .command("reload")
      .description("re-read the gateway's config, secrets and certificates (admin API)"),
  ).action((options: AdminOptions) =>
    run(deps, options, async (client) => {
      const answer = await client.reload();
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify(answer)}\n`);
        if (!answer.ok) throw new ExitError(EXIT.usage);
        return "";
      }
      if (!answer.ok) {
        // The same sentences the gateway logged, one per line, then a non-zero exit.
        deps.stderr.write(
          `webknock: reload refused; the gateway keeps its old config:\n${answer.problems.map((p) => `  - ${p}\n`).join("")}`,
        );
        throw new ExitError(EXIT.usage);
      }
      for (const warning of answer.warnings) deps.stderr.write(`webknock: warning: ${warning}\n`);
      const what = answer.changes.length === 0 ? "no config changes" : answer.changes.join("; ");
      return `Reloaded: ${what}.\n`;
    }),
  );

  const bans = program.command("bans").description("list or lift bans (admin API)");
  withAdminOptions(bans.command("list").description("list banned IPs")).action(
    (options: AdminOptions) =>
      run(deps, options, async (client) => {
        const list = await client.listBans();
        if (options.json === true) return `${JSON.stringify({ bans: list })}\n`;
        if (list.length === 0) return "No bans.\n";
        return table(
          ["IP", "LEFT", "UNTIL", "REASON"],
          list.map((b) => [b.ip, `${b.remainingSeconds}s`, b.until, b.reason]),
        );
      }),
  );
  withAdminOptions(
    bans.command("unban").description("lift a ban now").argument("<ip>", "banned IP address"),
  ).action((ip: string, options: AdminOptions) =>
    run(deps, options, async (client) => {
      const address = checkIp(ip);
      await client.unban(address);
      return options.json === true
        ? `${JSON.stringify({ unbanned: address })}\n`
        : `Unbanned ${address}.\n`;
    }),
  );
}

function withAdminOptions(command: Command): Command {
  return command
    .option(
      "--admin-url <url>",
      `admin API URL (default: $WEBKNOCK_ADMIN_URL or ${DEFAULT_ADMIN_URL})`,
    )
    .option("--token-file <file>", "file holding the admin token (default: $WEBKNOCK_ADMIN_TOKEN)")
    .option("--json", "print JSON");
}

async function run(
  deps: CliDeps,
  options: AdminOptions,
  task: (client: AdminClient) => Promise<string>,
): Promise<void> {
  const client = new AdminClient({
    url: adminUrl(options, deps),
    token: adminToken(options, deps),
  });
  try {
    deps.stdout.write(await task(client));
  } catch (error) {
    if (!(error instanceof AdminError)) throw error;
    if (options.json === true)
      deps.stdout.write(
        `${JSON.stringify({ error: error.failure, code: error.code, message: error.message, fix: error.fix })}\n`,
      );
    deps.stderr.write(`webknock: ${error.describe()}\n`);
    throw new ExitError(FAILURE_EXIT[error.failure]);
  }
}

function adminUrl(options: AdminOptions, deps: CliDeps): string {
  const url = options.adminUrl ?? deps.env.WEBKNOCK_ADMIN_URL ?? DEFAULT_ADMIN_URL;
  try {
    if (/^https?:$/.test(new URL(url).protocol)) return url;
  } catch {
    // Reported below.
  }
  throw new CliUsageError(`--admin-url ${JSON.stringify(url)} is not an http(s) URL.`);
}

function adminToken(options: AdminOptions, deps: CliDeps): string {
  let token = deps.env.WEBKNOCK_ADMIN_TOKEN;
  if (options.tokenFile !== undefined) {
    try {
      token = deps.readFile(options.tokenFile);
    } catch (error) {
      throw new CliUsageError(
        `Cannot read token file ${options.tokenFile} (${(error as NodeJS.ErrnoException).code ?? "error"}).`,
      );
    }
  }
  token = token?.trim();
  if (token === undefined || token === "")
    throw new CliUsageError("No admin token: pass --token-file FILE or set WEBKNOCK_ADMIN_TOKEN.");
  return token;
}

function checkIp(ip: string): string {
  const address = canonicalIp(ip);
  if (address === undefined) throw new CliUsageError(`${JSON.stringify(ip)} is not an IP address.`);
  return address;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}
