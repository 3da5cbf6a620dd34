import { X509Certificate } from "node:crypto";
import type { Check, DoctorContext, Finding } from "./types.js";

/** A certificate expiring within this many days is reported (issue 15; certbot renews at 30). */
export const CERT_WARN_DAYS = 14;
const DAY_MS = 86_400_000;

/** A file the doctor inspects, with the config key that names it. */
interface NamedFile {
  readonly key: string;
  readonly path: string;
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

/**
 * Files holding secrets (TOTP secrets, rotating doors' sequence keys, the admin token, TLS
 * keys), from the config as written.
 */
export function secretFiles(raw: unknown): NamedFile[] {
  const files: NamedFile[] = [];
  for (const [name, user] of Object.entries(record(record(raw).users))) {
    const path = text(record(user).secretFile);
    if (path !== undefined) files.push({ key: `users.${name}.secretFile`, path });
  }
  for (const [name, door] of Object.entries(record(record(raw).doors))) {
    const path = text(record(record(door).sequence).keyFile);
    if (path !== undefined) files.push({ key: `doors.${name}.sequence.keyFile`, path });
  }
  const token = text(record(record(raw).admin).tokenFile);
  if (token !== undefined) files.push({ key: "admin.tokenFile", path: token });
  for (const tls of listenTls(raw)) files.push({ key: `${tls.key}.key`, path: tls.keyPath });
  return files;
}

/** Every `server.listen[].tls` as written. */
function listenTls(raw: unknown): { key: string; cert: string; keyPath: string }[] {
  const listen = record(record(raw).server).listen;
  if (!Array.isArray(listen)) return [];
  return listen.flatMap((entry, i) => {
    const tls = record(record(entry).tls);
    const cert = text(tls.cert);
    const keyPath = text(tls.key);
    return cert === undefined || keyPath === undefined
      ? []
      : [{ key: `server.listen[${i}].tls`, cert, keyPath }];
  });
}

/** True when the config file itself holds a secret inline (users.*.secret). */
const hasInlineSecret = (raw: unknown): boolean =>
  Object.values(record(record(raw).users)).some((u) => text(record(u).secret) !== undefined);

function modeFinding(ctx: DoctorContext, file: NamedFile): Finding {
  const stat = ctx.stat(file.path);
  if (stat === undefined) {
    return {
      severity: "problem",
      summary: `${file.key}: ${file.path} does not exist.`,
      fix: `Create it or fix ${file.key}.`,
    };
  }
  const mode = stat.mode.toString(8).padStart(4, "0");
  if ((stat.mode & 0o077) !== 0) {
    return {
      severity: "problem",
      summary: `${file.key}: ${file.path} has mode ${mode}; other users can read a secret.`,
      fix: `chmod 600 ${file.path} (owned by the user webknock runs as).`,
    };
  }
  return { severity: "ok", summary: `${file.key}: ${file.path} has mode ${mode}.` };
}

/** Secret, token and key files are readable by their owner only. */
export const fileModesCheck: Check = {
  name: "files",
  run(ctx) {
    const files = secretFiles(ctx.raw);
    if (hasInlineSecret(ctx.raw))
      files.push({ key: "config file (inline users.*.secret)", path: ctx.configPath });
    return Promise.resolve(files.map((file) => modeFinding(ctx, file)));
  },
};

/** Each listener's certificate is readable and not within CERT_WARN_DAYS of expiry. */
export const certificateCheck: Check = {
  name: "tls",
  run(ctx) {
    return Promise.resolve(
      listenTls(ctx.raw).map(({ key, cert }): Finding => {
        let notAfter: number;
        try {
          notAfter = Date.parse(new X509Certificate(ctx.readFile(cert)).validTo);
        } catch (error) {
          return {
            severity: "problem",
            summary: `${key}.cert: cannot read a certificate from ${cert} (${(error as Error).message}).`,
            fix: `Point ${key}.cert at a PEM certificate.`,
          };
        }
        const days = (notAfter - ctx.now()) / DAY_MS;
        const when = new Date(notAfter).toISOString();
        if (days <= 0) {
          return {
            severity: "problem",
            summary: `${key}.cert: ${cert} expired on ${when}.`,
            fix: "Renew it (certbot renew) and reload webknock.",
          };
        }
        if (days <= CERT_WARN_DAYS) {
          return {
            severity: "warning",
            summary: `${key}.cert: ${cert} expires in ${Math.floor(days)} days (${when}).`,
            fix: "Renew it (certbot renew) and reload webknock; check that automatic renewal runs.",
          };
        }
        return { severity: "ok", summary: `${key}.cert: ${cert} is valid until ${when}.` };
      }),
    );
  },
};
