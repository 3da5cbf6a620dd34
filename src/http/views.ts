import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The page templates in views/; read once at start-up. */
export type ViewName =
  | "challenge"
  | "challenge-passkey"
  | "granted"
  | "closed"
  | "denied"
  | "unavailable"
  | "enroll"
  | "enrolled";

/** The files in views/ that make each page's body, in order. */
const VIEW_PARTS: Readonly<Record<ViewName, readonly string[]>> = {
  challenge: ["challenge"],
  // The code form first and whole: without JavaScript the passkey part stays hidden.
  "challenge-passkey": ["challenge", "passkey"],
  granted: ["granted"],
  closed: ["closed"],
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

/** A value a template prints (escaped). */
export type ViewScalar = string | number;

/**
 * What a template is filled with: `{{name}}` takes a scalar; `{{#name}}...{{/name}}` takes
 * a list and repeats its block once per item (none for an empty list), each item's fields
 * shadowing the outer values inside the block.
 */
export interface ViewValues {
  readonly [key: string]: ViewScalar | readonly ViewValues[];
}

/**
 * A section `{{#key}}block{{/key}}` (lazily matched, so sections of other names nest) or a
 * field `{{key}}`, in one left-to-right pass: what a value expands to is never scanned again,
 * so a value that looks like a tag stays text.
 */
const TAG = /\{\{\{(\w+)\}\}\}|\{\{#(\w+)\}\}([\s\S]*?)\{\{\/\2\}\}|\{\{(\w+)\}\}/g;

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
   * Fills a template; every `{{value}}` is HTML-escaped. `{{{slot}}}` takes trusted text as
   * is (the WebAuthn browser bundle, read from the package at start-up).
   */
  render(
    name: ViewName,
    values: ViewValues,
    trusted: Readonly<Record<string, string>> = {},
  ): string {
    return fill(name, this.templates.get(name) ?? "", values, trusted);
  }
}

/** Expands trusted slots, sections and fields; a missing or mistyped value is a programming error. */
function fill(
  name: ViewName,
  template: string,
  values: ViewValues,
  trusted: Readonly<Record<string, string>>,
): string {
  return template.replace(
    TAG,
    (
      _,
      slot: string | undefined,
      section: string | undefined,
      block: string | undefined,
      field: string | undefined,
    ) => {
      if (slot !== undefined) {
        const text = trusted[slot];
        if (text === undefined)
          throw new Error(`View ${name} needs trusted text for {{{${slot}}}}`);
        return text;
      }
      if (section !== undefined) {
        const items = values[section];
        if (!Array.isArray(items)) throw new Error(`View ${name} needs a list for {{#${section}}}`);
        return (items as readonly ViewValues[])
          .map((item) => fill(name, block ?? "", { ...values, ...item }, trusted))
          .join("");
      }
      const value = values[field ?? ""];
      if (typeof value !== "string" && typeof value !== "number") {
        throw new Error(`View ${name} needs a value for {{${field ?? ""}}}`);
      }
      return escapeHtml(String(value));
    },
  );
}
