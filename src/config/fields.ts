import { z } from "zod";
import { expandCidrs } from "../net/ip.js";
import { parseDuration } from "./duration.js";

/** Field builders shared by the config sections; each carries its fix in every message. */

const PORT_SPEC = /^(tcp|udp)\/(\d{1,5})$/;

/** An integer in [min, max]; every way of missing it gets the same fix. */
export const intIn = (min: number, max: number, fix: string) =>
  z.number({ error: fix }).int(fix).min(min, fix).max(max, fix);

/** A non-empty string; `fix` says what to write. */
export const text = (fix: string) => z.string({ error: fix }).min(1, fix);

/** A duration such as 20s, 5m or 1h (or a bare number of seconds), in milliseconds. */
export const duration = (example: string) => {
  const fix = `write a duration such as ${example} (units ms, s, m, h)`;
  return z.union([z.string(), z.number()], { error: fix }).transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", input: value, message: fix });
      return z.NEVER;
    }
    return ms;
  });
};

/** The fix for a bad CIDR entry. */
export const CIDR_FIX =
  "write a CIDR such as 203.0.113.0/24 or 2001:db8::/32, or a keyword (loopback, private, linklocal)";

/** CIDRs or keywords; each bad entry is reported at its own index. */
export const cidrList = z
  .array(z.string(CIDR_FIX), { error: CIDR_FIX })
  .superRefine((entries, ctx) => {
    entries.forEach((entry, index) => {
      if (expandCidrs([entry]).invalid.length > 0) {
        ctx.addIssue({ code: "custom", path: [index], input: entry, message: CIDR_FIX });
      }
    });
  });

/** The fix for a bad port number. */
export const PORT_FIX = "write a port number from 1 to 65535";
/** A port number, 1 to 65535. */
export const port = intIn(1, 65535, PORT_FIX);

/** The fix for a bad proto/port. */
export const PORT_SPEC_FIX = "write proto/port such as tcp/22 or udp/51820";
/** `tcp/22` or `udp/51820`, parsed to proto and port. */
export const portSpec = z.string(PORT_SPEC_FIX).transform((value, ctx) => {
  const match = PORT_SPEC.exec(value.trim().toLowerCase());
  const number = Number(match?.[2]);
  if (!match || number < 1 || number > 65535) {
    ctx.addIssue({ code: "custom", input: value, message: PORT_SPEC_FIX });
    return z.NEVER;
  }
  return { proto: match[1] as "tcp" | "udp", port: number };
});
