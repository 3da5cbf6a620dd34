import { WebknockError } from "../errors.js";
import { HttpClient, TransportError } from "./http.js";

/** A grant as `GET /grants` lists it. */
export interface AdminGrant {
  readonly door: string;
  readonly ip: string;
  readonly user: string;
  readonly ports: readonly string[];
  readonly grantedAt: string;
  readonly expiresAt: string;
  readonly remainingSeconds: number;
}

/** A ban as `GET /bans` lists it. */
export interface AdminBan {
  readonly ip: string;
  readonly until: string;
  readonly remainingSeconds: number;
  readonly reason: string;
}

/** What `POST /reload` answered: applied with what changed, or refused with every problem. */
export type ReloadAnswer =
  | { readonly ok: true; readonly changes: readonly string[]; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Why an admin call failed; `message` is a whole sentence. */
export type AdminFailure =
  "unauthorized" | "not-found" | "bad-request" | "unreachable" | "unavailable" | "protocol";

/** Stable code and fix per failure. */
const FAILURES: Readonly<Record<AdminFailure, { code: string; fix: string }>> = {
  unauthorized: {
    code: "ERR_ADMIN_UNAUTHORIZED",
    fix: "Pass the token of the gateway's admin.tokenFile with --token-file or WEBKNOCK_ADMIN_TOKEN.",
  },
  "not-found": {
    code: "ERR_ADMIN_NOT_FOUND",
    fix: "List what exists with 'webknock grants list' or 'webknock bans list'.",
  },
  "bad-request": {
    code: "ERR_ADMIN_BAD_REQUEST",
    fix: "Check the door name and the IP address.",
  },
  unreachable: {
    code: "ERR_ADMIN_UNREACHABLE",
    fix: "Check --admin-url (default http://127.0.0.1:9090) and that the gateway has an admin section.",
  },
  unavailable: {
    code: "ERR_ADMIN_UNAVAILABLE",
    fix: "Try again later; check the gateway's store (Redis).",
  },
  protocol: {
    code: "ERR_ADMIN_PROTOCOL",
    fix: "Check that --admin-url points at the webknock admin API.",
  },
};

/** An admin API call that did not succeed; `failure` and `code` are stable. */
export class AdminError extends WebknockError {
  constructor(
    readonly failure: AdminFailure,
    message: string,
    options?: ErrorOptions,
  ) {
    super(FAILURES[failure].code, message, { ...options, fix: FAILURES[failure].fix });
  }
}

/** Where the admin API listens and the bearer token it wants. */
export interface AdminClientOptions {
  readonly url: string;
  readonly token: string;
  readonly timeoutMs?: number;
}

/** A client for the admin API (src/admin), used by `webknock grants` and `webknock bans`. */
export class AdminClient {
  private readonly base: URL;

  constructor(private readonly options: AdminClientOptions) {
    try {
      this.base = new URL(options.url);
    } catch (error) {
      // new URL throws a bare TypeError; say which URL and what to write.
      throw new AdminError(
        "unreachable",
        `${JSON.stringify(options.url)} is not a URL; write http://HOST:PORT.`,
        { cause: error },
      );
    }
  }

  /** Live grants, soonest expiry first. */
  async listGrants(): Promise<AdminGrant[]> {
    return ((await this.call("GET", "/grants")) as { grants: AdminGrant[] }).grants;
  }

  /** Revokes a grant; rejects with `not-found` when there is none. */
  async revokeGrant(door: string, ip: string): Promise<AdminGrant> {
    const path = `/grants/${encodeURIComponent(door)}/${encodeURIComponent(ip)}`;
    return ((await this.call("DELETE", path)) as { revoked: AdminGrant }).revoked;
  }

  /**
   * Bans in force, soonest lift first: follows the API's pages (200 bans, about 26 KB,
   * within the client's 64 KB answer limit), at most `maxPages` of them, so a huge ban
   * list cannot make the CLI run unbounded.
   */
  async listBans(maxPages = 500): Promise<AdminBan[]> {
    const bans: AdminBan[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < maxPages; page++) {
      const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
      const body = (await this.call("GET", `/bans?limit=200${query}`)) as {
        bans: AdminBan[];
        nextCursor?: string | null;
      };
      bans.push(...body.bans);
      cursor = body.nextCursor ?? null;
      if (cursor === null) break;
    }
    return bans;
  }

  /** Lifts a ban; rejects with `not-found` when the IP is not banned. */
  async unban(ip: string): Promise<void> {
    await this.call("DELETE", `/bans/${encodeURIComponent(ip)}`);
  }

  /**
   * Asks the gateway to re-read its config, secrets and certificates. Resolves with what
   * changed, or with the problems it was refused for (the gateway then keeps its old config).
   */
  async reload(): Promise<ReloadAnswer> {
    const body = (await this.call("POST", "/reload", [409])) as {
      reloaded?: boolean;
      changes?: string[];
      warnings?: string[];
      problems?: string[];
    };
    if (body.reloaded === true)
      return { ok: true, changes: body.changes ?? [], warnings: body.warnings ?? [] };
    if (Array.isArray(body.problems)) return { ok: false, problems: body.problems };
    throw new AdminError("protocol", "The reload answer named neither changes nor problems.");
  }

  private async call(
    method: "GET" | "POST" | "DELETE",
    path: string,
    /** Statuses besides 200 whose JSON body is an answer, not an error. */
    answers: readonly number[] = [],
  ): Promise<unknown> {
    const client = new HttpClient({ timeoutMs: this.options.timeoutMs ?? 10_000 });
    try {
      const res = await client.send(method, new URL(path, this.base.origin), {
        accept: "application/json",
        authorization: `Bearer ${this.options.token}`,
      });
      let body: unknown;
      try {
        body = JSON.parse(res.body);
      } catch {
        throw new AdminError(
          "protocol",
          `${this.base.origin} answered ${res.status} without JSON; is it the webknock admin API?`,
        );
      }
      const message = (body as { message?: unknown }).message;
      const said = typeof message === "string" ? ` ${message}` : "";
      if (answers.includes(res.status)) return body;
      switch (res.status) {
        case 200:
          return body;
        case 401:
          throw new AdminError("unauthorized", `The admin API refused the token.${said}`);
        case 404:
          throw new AdminError("not-found", `Not found.${said}`);
        case 400:
          throw new AdminError("bad-request", `Bad request.${said}`);
        case 503:
          throw new AdminError("unavailable", "The gateway's state store is unavailable.");
        default:
          throw new AdminError("protocol", `Unexpected answer ${res.status}.${said}`);
      }
    } catch (error) {
      if (error instanceof TransportError)
        throw new AdminError("unreachable", error.message, { cause: error });
      throw error;
    } finally {
      client.close();
    }
  }
}
