import type { Command } from "commander";
import { formatDuration } from "../../config/duration.js";
import { loadCliConfig, withConfigOption } from "../config-option.js";
import type { CliDeps } from "../deps.js";

/** `webknock config check -c FILE`: validates and prints a summary (never a secret). */
export function registerConfigCommands(program: Command, deps: CliDeps): void {
  const config = program.command("config").description("work with the config file");
  withConfigOption(
    config.command("check").description("validate a config file and print a summary"),
  ).action((options: { config?: string }) => {
    const loaded = loadCliConfig(options, deps);
    const out: string[] = ["Config OK."];
    out.push(
      `  listen:   ${loaded.server.listen.map((l) => `${l.tls ? "https" : "http"}://${l.host}:${l.port}`).join(", ")}`,
    );
    out.push(
      `  proxies:  ${loaded.server.trustProxy.length > 0 ? loaded.server.trustProxy.join(", ") : "none (socket peer address is the client)"}`,
    );
    out.push(
      `  store:    ${loaded.store.redis !== undefined ? `redis (${typeof loaded.store.redis === "string" ? redactUrl(loaded.store.redis) : `sentinel group ${loaded.store.redis.name}`})` : "memory (single instance)"}`,
    );
    out.push(`  firewall: ${loaded.firewall.backend}`);
    for (const door of loaded.doors) {
      out.push(
        `  door ${door.name}: ${door.steps} steps${door.rotation ? ` rotating every ${formatDuration(door.rotation.rotateMs)}` : ""} within ${formatDuration(door.sequenceTimeoutMs)}, opens ${door.open.map((p) => `${p.proto}/${p.port}`).join(", ")} for ${formatDuration(door.openForMs)}, users ${door.users.join(", ")}`,
      );
    }
    out.push(
      `  users:    ${[...loaded.users.values()].map((u) => `${u.name} (${u.factors.join("+")})`).join(", ")}`,
    );
    const passkeyUsers = [...loaded.users.values()].filter((u) => u.passkeys !== undefined);
    const { rpId, origin } = loaded.server;
    if (passkeyUsers.length > 0 && rpId !== undefined && origin !== undefined) {
      // The secure-context rule, said where the operator looks: which case this origin is.
      const context = origin.startsWith("https://")
        ? "HTTPS"
        : "localhost, for tests only: browsers elsewhere need HTTPS";
      out.push(
        `  passkeys: RP ID ${rpId}, origin ${origin} (secure context: ${context}); enrollment ${loaded.store.redis === undefined ? "needs store.redis (the CLI hands URLs to the gateway there)" : "through the store"}`,
      );
    }
    out.push(
      `  admin:    ${loaded.admin ? `http://${loaded.admin.listen.host}:${loaded.admin.listen.port} (bearer token set)` : "off (no admin section)"}`,
    );
    deps.stdout.write(`${out.join("\n")}\n`);
  });
}

/** Hides a password in a Redis URL. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}
