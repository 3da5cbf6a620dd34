import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The page templates in views/; read once at start-up. */
export type ViewName =
  "challenge" | "challenge-passkey" | "granted" | "denied" | "unavailable" | "enroll" | "enrolled";

/** The files in views/ that make each page's body, in order. */
const VIEW_PARTS: Readonly<Record<ViewName, readonly string[]>> = {
  challenge: ["challenge"],
  // The code form first and whole: without JavaScript the passkey part stays hidden.
  "challenge-passkey": ["challenge", "passkey"],
  granted: ["granted"],
  denied: ["denied"],
  unavailable: ["unavailable"],
  enroll: ["enroll"],
  enrolled: ["enrolled"],
};

/** `views/` at the package root, both from src/http (tsx) and dist/http (built). */
const VIEWS_DIR = fileURLToPath(new URL("../../views/", import.meta.url));

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Renders templates: `{{name}}` is replaced by the escaped value; unknown names are an error. */
export class Views {
  private readonly templates = new Map<ViewName, string>();

  constructor(dir: string = VIEWS_DIR) {
    const layout = readFileSync(`${dir}/layout.html`, "utf8");
    for (const [name, parts] of Object.entries(VIEW_PARTS) as [ViewName, readonly string[]][]) {
      const body = parts.map((part) => readFileSync(`${dir}/${part}.html`, "utf8")).join("");
      this.templates.set(name, layout.replace("{{{body}}}", body));
    }
  }

  /**
   * Fills a template; every `{{value}}` is HTML-escaped. `{{{script}}}` slots take trusted
   * text as is (the WebAuthn browser bundle, read from the package at start-up).
   */
  render(
    name: ViewName,
    values: Readonly<Record<string, string | number>>,
    trusted: Readonly<Record<string, string>> = {},
  ): string {
    // One pass, so nothing inside inserted text is ever read as a slot.
    const template = this.templates.get(name) ?? "";
    return template.replace(
      /\{\{\{(\w+)\}\}\}|\{\{(\w+)\}\}/g,
      (_, raw: string | undefined, key: string | undefined) => {
        if (raw !== undefined) {
          const text = trusted[raw];
          if (text === undefined)
            throw new Error(`View ${name} needs trusted text for {{{${raw}}}}`);
          return text;
        }
        const value = values[key ?? ""];
        if (value === undefined) throw new Error(`View ${name} needs a value for {{${key ?? ""}}}`);
        return escapeHtml(String(value));
      },
    );
  }
}
