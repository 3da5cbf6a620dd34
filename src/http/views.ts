import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The page templates in views/; read once at start-up. */
export type ViewName = "challenge" | "granted" | "closed" | "denied" | "unavailable";
const VIEW_NAMES: readonly ViewName[] = ["challenge", "granted", "closed", "denied", "unavailable"];

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
    for (const name of VIEW_NAMES) {
      const body = readFileSync(`${dir}/${name}.html`, "utf8");
      this.templates.set(name, layout.replace("{{{body}}}", body));
    }
  }

  /** Fills a template; every value is HTML-escaped. */
  render(name: ViewName, values: Readonly<Record<string, string | number>>): string {
    const template = this.templates.get(name) ?? "";
    return template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
      const value = values[key];
      if (value === undefined) throw new Error(`View ${name} needs a value for {{${key}}}`);
      return escapeHtml(String(value));
    });
  }
}
