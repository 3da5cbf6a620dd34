import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";

/** A self-signed certificate for `names` (openssl), in a temporary directory. */
export async function selfSigned(names: readonly string[]): Promise<{
  cert: string;
  key: string;
  pem: string;
  remove(): void;
}> {
  const dir = mkdtempSync(join(tmpdir(), "wk-tunnel-cert-"));
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  await execa("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${names[0] ?? "localhost"}`,
    "-addext",
    `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}`,
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  return {
    cert,
    key,
    pem: readFileSync(cert, "utf8"),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
