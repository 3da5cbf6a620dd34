import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/**
 * The browser side of the ceremonies: @simplewebauthn/browser's own UMD bundle (it sets
 * `window.SimpleWebAuthnBrowser`), read from the installed package once and inlined in
 * the passkey pages under the response's CSP nonce. No CDN, no extra path to serve: the
 * code reaches only someone shown a live challenge or an enrollment page.
 */
let bundle: string | undefined;

/** The bundle's text; throws if the package is missing or its text could end the script element. */
export function webauthnBrowserBundle(): string {
  if (bundle !== undefined) return bundle;
  // The package exports only its modules; its main entry locates the package directory.
  const main = createRequire(import.meta.url).resolve("@simplewebauthn/browser");
  const text = readFileSync(
    join(dirname(dirname(main)), "dist", "bundle", "index.umd.min.js"),
    "utf8",
  );
  if (/<\/script|<!--/i.test(text))
    throw new Error(
      "@simplewebauthn/browser's bundle contains </script or <!--; it cannot be inlined",
    );
  bundle = text;
  return text;
}
