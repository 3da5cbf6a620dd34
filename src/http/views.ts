import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The page templates in views/; read once at start-up. */
export type ViewName = "challenge" | "granted" | "denied" | "unavailable";
const VIEW_NAMES: readonly ViewName[] = ["challenge", "granted", "denied", "unavailable"];

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
const TAG = /\{\{#(\w+)\}\}([\s\S]*?)\{\{\/\1\}\}|\{\{(\w+)\}\}/g;

/** Renders templates: `{{name}}` is replaced by the escaped value; unknown names are an error. */
export class Views {
  private readonly templates = new Map<ViewName, string>();

  constructor(dir: string = VIEWS_DIR) {
    const layout = readFileSync(`${dir}/layout.html`, "utf8");
    for (const name of VIEW_NAMES) {
      const body = readFileSync(`${dir}/${name}.html`, "utf8");
      this.templates.set(name, layout.replace("{{{body}}}", body));
    }
  }

  /** Fills a template; every value is HTML-escaped. */
  render(name: ViewName, values: ViewValues): string {
    return fill(name, this.templates.get(name) ?? "", values);
  }
}

/** Expands sections and fields; a missing or mistyped value is a programming error. */
function fill(name: ViewName, template: string, values: ViewValues): string {
  return template.replace(
    TAG,
    (_, section: string | undefined, block: string | undefined, field: string | undefined) => {
      if (section !== undefined) {
        const items = values[section];
        if (!Array.isArray(items)) throw new Error(`View ${name} needs a list for {{#${section}}}`);
        return (items as readonly ViewValues[])
          .map((item) => fill(name, block ?? "", { ...values, ...item }))
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
