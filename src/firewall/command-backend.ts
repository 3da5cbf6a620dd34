import type { PortSpec } from "../config/types.js";
import { FirewallError, UnsafeValueError } from "../errors.js";
import { RunnerAdapter, type RunnerAdapterOptions } from "./base.js";
import { runChecked } from "./runner.js";
import { RuleStateFile } from "./state-file.js";
import type { FirewallAdapter, FirewallRule, RuleKey } from "./types.js";
import { ruleKey } from "./types.js";
import {
  assertIp,
  assertPort,
  assertPorts,
  assertProto,
  assertRule,
  assertRuleKey,
  assertSeconds,
  canonicalIp,
  secondsLeft,
} from "./validate.js";

/** knockd-style argv templates: `open` may use %IP% %PROTO% %PORT% %SECONDS%; `close` all but %SECONDS%. */
export interface CommandTemplates {
  readonly open: readonly string[];
  readonly close: readonly string[];
}

/** The values a template may use; each is validated before substitution. */
export interface TemplateValues {
  readonly IP: string;
  readonly PROTO: string;
  readonly PORT: number;
  readonly SECONDS?: number;
}

const PLACEHOLDER = /%([A-Z]+)%/g;
const KNOWN = new Set(["IP", "PROTO", "PORT", "SECONDS"]);

/**
 * Checks a template once: a non-empty argv whose program is fixed text (no placeholder),
 * with only known placeholders; `%SECONDS%` only where `allowSeconds`.
 */
export function assertTemplate(
  what: string,
  template: readonly string[],
  allowSeconds: boolean,
): readonly string[] {
  const [program] = template;
  if (program === undefined || program === "" || program.includes("%")) {
    throw new FirewallError(
      `firewall.command.${what} must start with a fixed program path such as /usr/local/sbin/allow; got ${JSON.stringify(template)}.`,
    );
  }
  for (const arg of template) {
    for (const [, name = ""] of arg.matchAll(PLACEHOLDER)) {
      if (!KNOWN.has(name) || (name === "SECONDS" && !allowSeconds)) {
        throw new FirewallError(
          `firewall.command.${what} uses %${name}%; allowed are %IP%, %PROTO%, %PORT%${allowSeconds ? ", %SECONDS%" : ""}.`,
        );
      }
    }
  }
  return template;
}

/**
 * Substitutes placeholders inside each argument separately (no shell, no word splitting),
 * so a value can never become a second argument or an option. Pure.
 */
export function substituteTemplate(template: readonly string[], values: TemplateValues): string[] {
  const safe: Record<string, string> = {
    IP: assertIp(values.IP),
    PROTO: assertProto(values.PROTO),
    PORT: String(assertPort(values.PORT)),
  };
  if (values.SECONDS !== undefined) safe.SECONDS = String(assertSeconds(values.SECONDS));
  return template.map((arg) =>
    arg.replace(PLACEHOLDER, (whole: string, name: string) => {
      const value = safe[name];
      if (value === undefined) throw new UnsafeValueError("template placeholder", whole);
      return value;
    }),
  );
}

/** Options of the command backend. */
export interface CommandFirewallOptions extends RunnerAdapterOptions {
  /** Checked again here, the last gate before a command. */
  readonly templates: CommandTemplates;
  /** Where the rule table survives a crash; without it, list() is empty after a restart. */
  readonly stateFile?: string;
}

/**
 * Runs an administrator's own open and close programs (knockd's start_command and
 * stop_command). webknock cannot read their state back, so it keeps its own table of what
 * it opened, persisted to `stateFile`: after a crash the next start's reconcile still
 * closes what is due. Expiry is the sweeper's job (`kernelExpiry` false).
 */
export class CommandFirewall extends RunnerAdapter implements FirewallAdapter {
  readonly name = "command";
  readonly kernelExpiry = false;
  readonly kernelRemovesExpired = false;
  private readonly templates: CommandTemplates;
  private readonly rules = new Map<string, FirewallRule>();
  private readonly state: RuleStateFile | undefined;

  constructor(options: CommandFirewallOptions) {
    super(options);
    this.templates = {
      open: assertTemplate("open", options.templates.open, true),
      close: assertTemplate("close", options.templates.close, false),
    };
    this.state = options.stateFile === undefined ? undefined : new RuleStateFile(options.stateFile);
    for (const rule of this.state?.load() ?? []) this.rules.set(ruleKey(rule), rule);
  }

  /** Nothing to build: templates were validated by the constructor. */
  init(ports: readonly PortSpec[]): Promise<void> {
    return this.serial(() => {
      assertPorts(ports);
      return Promise.resolve();
    });
  }

  open(rule: FirewallRule): Promise<void> {
    return this.serial(async () => {
      const safe = assertRule(rule);
      const key = ruleKey({ ...safe, ip: canonicalIp(safe.ip) });
      const usesSeconds = this.templates.open.some((arg) => arg.includes("%SECONDS%"));
      // A template without %SECONDS% makes the same kernel state whatever the expiry, so a
      // refresh only moves the expiry here; running it again could add a duplicate rule.
      if (!this.rules.has(key) || usesSeconds) {
        const seconds = secondsLeft(safe.expiresAt, this.now());
        await runChecked(this.run, ...this.argv(this.templates.open, safe, seconds));
      }
      this.rules.set(key, { ...safe, ip: canonicalIp(safe.ip) });
      this.persist();
    });
  }

  close(rule: RuleKey): Promise<void> {
    return this.serial(async () => {
      const safe = assertRuleKey(rule);
      const key = ruleKey({ ...safe, ip: canonicalIp(safe.ip) });
      const [file, args] = this.argv(this.templates.close, safe);
      const result = await this.run(file, args);
      // Closing a rule this process never opened (after a restart) may legitimately fail
      // because it is already gone; closing a known one must succeed.
      if (result.exitCode !== 0 && this.rules.has(key)) {
        throw new FirewallError(
          `${file} ${args.join(" ")} failed with exit code ${result.exitCode}: ${result.stderr.trim()}`,
        );
      }
      this.rules.delete(key);
      this.persist();
    });
  }

  list(): Promise<FirewallRule[]> {
    return Promise.resolve([...this.rules.values()]);
  }

  /** Closes every rule in webknock's table; the admin's own base rules stay. */
  async flush(): Promise<void> {
    for (const rule of [...this.rules.values()]) await this.close(rule);
  }

  /** Closes every rule and removes the state file: webknock made nothing else here. */
  async uninstall(): Promise<void> {
    await this.flush();
    await this.serial(() => {
      this.state?.remove();
      return Promise.resolve();
    });
  }

  private persist(): void {
    this.state?.save([...this.rules.values()]);
  }

  private argv(template: readonly string[], key: RuleKey, seconds?: number): [string, string[]] {
    const [file = "", ...args] = substituteTemplate(template, {
      IP: key.ip,
      PROTO: key.proto,
      PORT: key.port,
      SECONDS: seconds,
    });
    return [file, args];
  }
}
