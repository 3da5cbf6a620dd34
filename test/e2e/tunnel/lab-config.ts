import { LAB, LAB_USERS, type Lab } from "./lab.js";

/** Knobs of the lab gateway's config. */
export interface LabConfigOptions {
  /** How long a grant lets new tunnels (and connections) in. */
  readonly openFor: string;
  /** The door's `tunnel` section, as YAML flow mapping text; none when undefined. */
  readonly tunnel?: string;
  /** Extra top-level YAML (limits), appended as is. */
  readonly extra?: string;
}

/**
 * The gateway config of the lab: TLS and plain listeners on port 443 of the two public
 * addresses, the admin API on the gateway's loopback, the `log` firewall backend (the
 * kernel path is covered by test/e2e; here the tunnel is the only way in), one door.
 */
export function labConfig(lab: Lab, options: LabConfigOptions): string {
  const users = LAB_USERS.map((u) => `  ${u}: { secret: ${lab.secrets[u] ?? ""} }`).join("\n");
  return `server:
  listen:
    - { host: ${LAB.tlsHost}, port: 443, tls: { cert: ${lab.cert}, key: ${lab.key} } }
    - { host: ${LAB.plainHost}, port: 443 }
admin:
  listen: { host: 127.0.0.1, port: 9090 }
  tokenFile: ${lab.dir}/admin.token
firewall: { backend: log }
doors:
  ${LAB.door}:
    sequence: [${LAB.sequence.join(", ")}]
    open: [tcp/22]
    openFor: ${options.openFor}
    users: [${LAB_USERS.join(", ")}]
${options.tunnel === undefined ? "" : `    tunnel: ${options.tunnel}\n`}users:
${users}
${options.extra ?? ""}`;
}
