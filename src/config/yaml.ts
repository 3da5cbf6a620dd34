import { parseDocument } from "yaml";

/**
 * Aliases a config may expand. A real config needs a few (a shared user list); an alias
 * bomb ("billion laughs") needs thousands. The yaml library counts nested expansions.
 */
const MAX_YAML_ALIASES = 100;

/** A parsed YAML text, or one line saying why it is not valid YAML. */
export type YamlResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: string };

/**
 * Parses YAML for a config file: duplicate keys and alias bombs are errors, and every
 * failure is one line (the first problem, with line and column), never a stack trace.
 */
export function parseYaml(text: string): YamlResult {
  try {
    const document = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
    const [first] = document.errors;
    if (first !== undefined) {
      const more = document.errors.length - 1;
      return {
        ok: false,
        problem: `${firstLine(first.message)}${more > 0 ? ` (and ${more} more)` : ""}`,
      };
    }
    return { ok: true, value: document.toJS({ maxAliasCount: MAX_YAML_ALIASES }) as unknown };
  } catch (error) {
    // toJS throws a ReferenceError for an alias bomb; the parser should not throw, but a
    // config loader must answer in one line whatever happens inside it.
    const message = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      problem: /alias/i.test(message)
        ? `too many aliases (more than ${MAX_YAML_ALIASES} expansions); write the values out`
        : firstLine(message),
    };
  }
}

/** A pretty yaml error is "message at line L, column C:" followed by a code frame. */
function firstLine(message: string): string {
  return (message.split("\n")[0] ?? message).replace(/:$/, "");
}
