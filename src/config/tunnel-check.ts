import type { RawTunnelDoor, RawTunnels } from "./tunnel-schema.js";
import type { DoorConfig, ListenConfig, TunnelConfig, TunnelLimits } from "./types.js";

/** The resolved tunnel of one door (the schema has checked each field). */
export function tunnelConfig(raw: RawTunnelDoor | undefined): TunnelConfig | undefined {
  if (raw === undefined) return undefined;
  return {
    to: raw.to,
    ssh: raw.ssh,
    proxyProtocol: raw.proxyProtocol,
    ...(raw.sni === undefined ? {} : { sni: raw.sni }),
    ...(raw.path === undefined ? {} : { path: raw.path }),
    ...(raw.cert === undefined || raw.key === undefined
      ? {}
      : { tls: { cert: raw.cert, key: raw.key } }),
  };
}

/** The `tunnels` section in milliseconds. */
export function tunnelLimits(raw: RawTunnels): TunnelLimits {
  return {
    maxPerIp: raw.maxPerIp,
    maxTotal: raw.maxTotal,
    idleTimeoutMs: raw.idleTimeout,
    peekTimeoutMs: raw.peekTimeout,
    peekBytes: raw.peekBytes,
    revokeCheckMs: raw.revokeCheck,
  };
}

/**
 * Rules that span doors and listeners: one `ssh: true` door (a banner names no door), each
 * SNI and path used once, a path never a knock step, and an SNI route with a certificate.
 */
export function checkTunnels(
  doors: readonly DoorConfig[],
  listen: readonly ListenConfig[],
  problems: string[],
): void {
  const steps = new Set(doors.flatMap((door) => door.sequence));
  const owners = {
    ssh: new Map<string, string>(),
    sni: new Map<string, string>(),
    path: new Map<string, string>(),
  };
  const hasTls = listen.some((address) => address.tls !== undefined);
  for (const door of doors) {
    const tunnel = door.tunnel;
    if (tunnel === undefined) continue;
    const key = `doors.${door.name}.tunnel`;
    const claim = (kind: "ssh" | "sni" | "path", value: string, what: string) => {
      const owner = owners[kind].get(value);
      if (owner !== undefined) {
        problems.push(
          `${key}.${kind}: ${what} is already ${owner}'s; ${kind === "ssh" ? "set ssh: true on one door only" : `give each door its own ${kind}`}`,
        );
      }
      owners[kind].set(value, `doors.${door.name}`);
    };
    if (tunnel.ssh) claim("ssh", "ssh", "plain SSH");
    if (tunnel.sni !== undefined) {
      claim("sni", tunnel.sni, JSON.stringify(tunnel.sni));
      if (tunnel.tls === undefined && !hasTls) {
        problems.push(
          `${key}.sni: ${JSON.stringify(tunnel.sni)} needs a certificate to terminate TLS; add tls to a server.listen entry, or give the tunnel cert and key`,
        );
      }
    }
    if (tunnel.path !== undefined) {
      claim("path", tunnel.path, JSON.stringify(tunnel.path));
      if (steps.has(tunnel.path)) {
        problems.push(
          `${key}.path: ${JSON.stringify(tunnel.path)} is a knock step; choose a path of its own, such as /t/9f2c1e4b`,
        );
      }
    }
  }
}
