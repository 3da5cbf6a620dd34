import { z } from "zod";
import { assertTemplate } from "../firewall/command-backend.js";
import { DEFAULTS } from "./defaults.js";
import { duration, text } from "./fields.js";
import { KERNEL_NAME, KERNEL_NAME_FIX } from "./names.js";

/** The backends; `firewall.backend` picks one, and with it the keys its section takes. */
export const FIREWALL_BACKENDS = ["iptables", "ipset", "nftables", "command", "log"] as const;

/** The fix for an unknown or missing backend. */
export const BACKEND_FIX = `choose one of ${FIREWALL_BACKENDS.join(", ")}`;

const ARGV_FIX = 'write a non-empty argv list such as [/usr/local/sbin/allow, "%IP%", "%PORT%"]';

/**
 * An argv template of the command backend, checked by the adapter's own validator
 * (firewall/command-backend.ts), so `config check` refuses what the adapter would.
 */
const template = (what: "open" | "close", allowSeconds: boolean) =>
  z
    .array(z.string(ARGV_FIX), { error: ARGV_FIX })
    .min(1, ARGV_FIX)
    .superRefine((argv, ctx) => {
      try {
        assertTemplate(what, argv, allowSeconds);
      } catch (error) {
        // The validator's sentence names the key and the value; the issue adds both itself.
        const fix = (error as Error).message
          .replace(/^firewall\.command\.\w+ /, "")
          .replace(/; got [\s\S]*$/, "")
          .replace(/\.$/, "");
        ctx.addIssue({ code: "custom", input: argv, message: fix });
      }
    });

const common = {
  chain: z.string(KERNEL_NAME_FIX).regex(KERNEL_NAME, KERNEL_NAME_FIX).default(DEFAULTS.chain),
  table: z.string(KERNEL_NAME_FIX).regex(KERNEL_NAME, KERNEL_NAME_FIX).default(DEFAULTS.table),
  sweepInterval: duration("1s").prefault(DEFAULTS.sweepInterval),
};

/** A section whose backend needs nothing beyond the common keys. */
const plain = <B extends Exclude<(typeof FIREWALL_BACKENDS)[number], "command">>(backend: B) =>
  z.strictObject({ backend: z.literal(backend), ...common });

/**
 * The firewall section, a union keyed on `backend`: the `command` backend must carry its
 * templates (validated here), and no other backend may.
 */
export const firewallSchema = z.discriminatedUnion(
  "backend",
  [
    plain("iptables"),
    plain("ipset"),
    plain("nftables"),
    plain("log"),
    z.strictObject({
      backend: z.literal("command"),
      ...common,
      command: z.strictObject(
        {
          open: template("open", true),
          close: template("close", false),
          /** FHS: variable state of a program lives under /var/lib. */
          stateFile: text(
            "write the path of the state file, such as /var/lib/webknock/command-grants.json",
          ).default("/var/lib/webknock/command-grants.json"),
        },
        {
          error:
            'write open and close argv templates, such as open: [/usr/local/sbin/allow, "%IP%", "%PROTO%", "%PORT%", "%SECONDS%"]',
        },
      ),
    }),
  ],
  { error: BACKEND_FIX },
);
