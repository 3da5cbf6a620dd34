import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { generateSecret, generateURI } from "otplib";
import QRCode from "qrcode";
import { DOOR_NAME, DOOR_NAME_FIX, USER_NAME, USER_NAME_FIX } from "../../config/names.js";
import { CliUsageError } from "../config-option.js";
import type { CliDeps } from "../deps.js";
import { ensurePrivateDir, writePrivate } from "../private-file.js";
import { registerPasskeyCommands } from "./user-passkey.js";

/** Where `webknock user add` writes secrets unless told otherwise; next to /etc/webknock/*.yaml. */
export const DEFAULT_SECRET_DIR = "/etc/webknock/secrets";
/** The issuer authenticator apps show above the code. */
const DEFAULT_ISSUER = "webknock";

interface UserAddOptions {
  door?: string;
  secretDir: string;
  qrSvg?: string;
  qrPng?: string;
  issuer: string;
  force?: boolean;
}

/** `webknock user add NAME`: creates a TOTP secret file and prints how to enroll and configure. */
export function registerUserCommands(program: Command, deps: CliDeps): void {
  const user = program.command("user").description("manage users' TOTP secrets and passkeys");
  registerPasskeyCommands(user, deps);
  user
    .command("add")
    .description("generate a 160-bit TOTP secret, write it 0600, print its QR code and config")
    .argument("<name>", "user name (a-z, 0-9, _, . or -)")
    .option("-d, --door <door>", "door the user may open (printed in the config snippet)")
    .option("--secret-dir <dir>", "where to write NAME.secret", DEFAULT_SECRET_DIR)
    .option("--qr-svg <file>", "also write the QR code as SVG (it holds the secret: 0600)")
    .option("--qr-png <file>", "also write the QR code as PNG (it holds the secret: 0600)")
    .option("--issuer <name>", "issuer shown in the authenticator app", DEFAULT_ISSUER)
    .option("-f, --force", "replace an existing secret (the old one stops working)")
    .action(async (name: string, options: UserAddOptions) => {
      if (!USER_NAME.test(name))
        throw new CliUsageError(`User name ${JSON.stringify(name)}: ${USER_NAME_FIX}.`);
      if (options.door !== undefined && !DOOR_NAME.test(options.door))
        throw new CliUsageError(`Door name ${JSON.stringify(options.door)}: ${DOOR_NAME_FIX}.`);
      if (options.qrSvg !== undefined && options.qrPng !== undefined)
        throw new CliUsageError("Give --qr-svg or --qr-png, not both.");

      // otplib's default is 20 random bytes: 160 bits, RFC 4226's recommended length.
      const secret = generateSecret();
      const uri = generateURI({ issuer: options.issuer, label: name, secret });
      const dir = resolve(options.secretDir);
      const file = join(dir, `${name}.secret`);
      const force = options.force === true;
      const qrPath = options.qrSvg ?? options.qrPng;
      // Checked first, so a refused QR file never leaves a fresh secret behind.
      if (qrPath !== undefined && !force && existsSync(qrPath))
        throw new CliUsageError(
          `${resolve(qrPath)} already exists; refusing to overwrite it (--force replaces it).`,
        );
      const warning = ensurePrivateDir(dir);
      writePrivate(file, `${secret}\n`, force, "--force replaces it; the old secret stops working");

      const out: string[] = [`Wrote the secret for ${name} to ${file} (mode 0600).`];
      if (warning !== undefined) out.push(warning);
      if (qrPath !== undefined) {
        const qrFile = resolve(qrPath);
        const image =
          options.qrSvg !== undefined
            ? await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M" })
            : await QRCode.toBuffer(uri, { type: "png", errorCorrectionLevel: "M", scale: 8 });
        writePrivate(qrFile, image, force, "--force replaces it");
        out.push(
          `Wrote the QR code to ${qrFile} (mode 0600; it holds the secret, delete it after scanning).`,
        );
      }
      const terminalQr = await QRCode.toString(uri, { type: "terminal", small: true });
      out.push(
        "",
        "otpauth URI (it holds the secret; share it only with the user):",
        `  ${uri}`,
        "",
        "Scan with an authenticator app:",
        terminalQr,
        "Add to the gateway config:",
        "",
        configSnippet(name, file, options.door),
      );
      deps.stdout.write(`${out.join("\n")}\n`);
    });
}

/** The YAML the operator pastes: the users entry, and the door's users line. */
export function configSnippet(name: string, file: string, door: string | undefined): string {
  const lines = ["users:", `  ${name}:`, `    secretFile: ${file}`];
  lines.push("", "doors:");
  if (door === undefined) {
    lines.push(
      `  DOOR:                   # each door ${name} may open`,
      `    users: [..., ${name}]`,
    );
  } else {
    lines.push(`  ${door}:`, `    users: [..., ${name}]  # add ${name} to the existing list`);
  }
  return `${lines.join("\n")}\n`;
}
