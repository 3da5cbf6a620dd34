import { z } from "zod";
import { duration, intIn, text } from "./fields.js";
import { isKnockPath } from "./names.js";

/**
 * Where each tunnel default comes from. Frozen named constants, like DEFAULTS.
 * - peekTimeout: SSH, TLS and HTTP clients all speak first, at once; only a silent or
 *   slow-loris client waits this long before it is handed to the listener's own server.
 * - peekBytes: a TLS record holds at most 16 KiB plus its 5-byte header, so the longest
 *   ClientHello the SNI route can read whole (browsers' post-quantum ones are ~1.8 KB).
 * - maxPerIp / maxTotal: an SSH user rarely has more than a few sessions; 1024 tunnels
 *   cost about 2 sockets and 64 KiB of buffers each at most.
 * - idleTimeout: longer than OpenSSH's usual ServerAliveInterval (60 s) times a few.
 * - revokeCheck: a revoke on another gateway closes tunnels here within about this; one
 *   store lookup per (door, IP) with open tunnels each time, so cheap even at 1024.
 */
export const TUNNEL_DEFAULTS = Object.freeze({
  maxPerIp: 8,
  maxTotal: 1024,
  idleTimeout: "10m",
  peekTimeout: "5s",
  peekBytes: 16_389,
  revokeCheck: "2s",
});

/** `host:port`, IPv6 in brackets: where a door's tunnel goes. */
const target = z
  .string("write host:port such as 127.0.0.1:22 or [::1]:22")
  .transform((value, ctx) => {
    const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim());
    const port = Number(match?.[2]);
    const host = match?.[1];
    if (
      host === undefined ||
      port < 1 ||
      port > 65535 ||
      (!host.startsWith("[") && host.includes(":"))
    ) {
      ctx.addIssue({
        code: "custom",
        input: value,
        message:
          "write host:port such as 127.0.0.1:22, with an IPv6 address in brackets ([::1]:22)",
      });
      return z.NEVER;
    }
    return { host: host.replace(/^\[|\]$/g, ""), port };
  });

const SNI_FIX = "write a DNS name such as ssh.example.net (letters, digits, '-' and '.')";
const SNI =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** `doors.NAME.tunnel`: the door's tunnel through a webknock listener (issue 12). */
export const tunnelDoorSchema = z
  .strictObject({
    to: target,
    ssh: z.boolean("write true or false").default(false),
    sni: z
      .string(SNI_FIX)
      .transform((value) => value.trim().toLowerCase())
      .refine((value) => SNI.test(value), SNI_FIX)
      .optional(),
    path: z
      .string("write a secret path such as /t/9f2c1e4b")
      .refine(
        isKnockPath,
        "write a secret absolute path such as /t/9f2c1e4b (the rules of a knock path)",
      )
      .optional(),
    proxyProtocol: z.boolean("write true or false").default(false),
    cert: text("write the path of a PEM certificate file for the SNI route").optional(),
    key: text("write the path of a PEM private key file for the SNI route").optional(),
  })
  .superRefine((tunnel, ctx) => {
    if ((tunnel.cert === undefined) !== (tunnel.key === undefined)) {
      ctx.addIssue({
        code: "custom",
        input: Object.keys(tunnel),
        message:
          "give both cert and key (the SNI route's own certificate), or neither to use the listener's",
      });
    }
    if ((tunnel.cert !== undefined || tunnel.key !== undefined) && tunnel.sni === undefined) {
      ctx.addIssue({
        code: "custom",
        input: Object.keys(tunnel),
        message: "cert and key are for the SNI route; set sni too, or remove them",
      });
    }
  });

/** The top-level `tunnels` section: limits shared by every door's tunnel. */
export const tunnelsSchema = z.strictObject({
  maxPerIp: intIn(
    1,
    10_000,
    "write a whole number of tunnels per client IP, from 1 to 10000",
  ).default(TUNNEL_DEFAULTS.maxPerIp),
  maxTotal: intIn(
    1,
    1_000_000,
    "write a whole number of tunnels in all, from 1 to 1000000",
  ).default(TUNNEL_DEFAULTS.maxTotal),
  idleTimeout: duration("10m").prefault(TUNNEL_DEFAULTS.idleTimeout),
  peekTimeout: duration("5s").prefault(TUNNEL_DEFAULTS.peekTimeout),
  revokeCheck: duration("2s").prefault(TUNNEL_DEFAULTS.revokeCheck),
  peekBytes: intIn(
    64,
    65_536,
    "write a byte count from 64 to 65536 (16389 holds the largest TLS record)",
  ).default(TUNNEL_DEFAULTS.peekBytes),
});

export type RawTunnelDoor = z.infer<typeof tunnelDoorSchema>;
export type RawTunnels = z.infer<typeof tunnelsSchema>;
