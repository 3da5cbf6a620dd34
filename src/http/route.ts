import type { IncomingMessage } from "node:http";
import type { StepRef } from "../knock/engine.js";
import type { ClientIpResolver } from "../net/client-ip.js";
import type { Enrollment } from "../passkey/enrollments.js";

/** Longer URLs are noise; no knock path is longer than 200 characters. */
const MAX_URL_LENGTH = 2048;

/** A request on a knock step that one of the step handlers answers. */
export interface StepRoute {
  readonly kind: "advance" | "challenge" | "redeem";
  /** The step the path is, looked up once. */
  readonly step: StepRef;
  /** The client address, resolved once. */
  readonly ip: string;
}

/** What the edge decided a request is: decided once, handed to exactly one handler. */
export type Route =
  /** Not a knock path: the stranger's answer, and the scanner detector notes the path. */
  | { readonly kind: "unknown"; readonly path: string }
  /** A knock path, but this request gets nothing: the stranger's answer, not noted. */
  | { readonly kind: "refuse" }
  /** `advance`: GET of an intermediate step; `challenge`/`redeem`: GET/POST of a last step. */
  | StepRoute
  /** GET or POST of a live passkey enrollment URL. */
  | { readonly kind: "enroll"; readonly enrollment: Enrollment; readonly ip: string };

const REFUSE: Route = Object.freeze({ kind: "refuse" });

/**
 * Routes a request from its request line and client address alone: the one place a path
 * is looked up. Nothing here reads the body or waits on anything.
 */
export function routeRequest(
  req: IncomingMessage,
  lookup: (path: string) => StepRef | undefined,
  clientIp: ClientIpResolver,
  enrollment?: (path: string) => Enrollment | undefined,
): Route {
  const url = req.url ?? "";
  if (url.length > MAX_URL_LENGTH) return { kind: "unknown", path: url.slice(0, MAX_URL_LENGTH) };
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  const step = lookup(path);
  if (step === undefined) return routeEnrollment(req, path, clientIp, enrollment?.(path));
  const ip = clientIp(req);
  if (ip === undefined) return REFUSE;
  if (req.method === "GET") return { kind: step.last ? "challenge" : "advance", step, ip };
  if (req.method === "POST" && step.last) return { kind: "redeem", step, ip };
  // HEAD, a POST to an intermediate step and every other method are noise: they neither
  // advance nor reveal a step, and their bodies are never read.
  return REFUSE;
}

/** A live enrollment URL (another Map lookup, only on a miss), or an unknown path. */
function routeEnrollment(
  req: IncomingMessage,
  path: string,
  clientIp: ClientIpResolver,
  enrollment: Enrollment | undefined,
): Route {
  if (enrollment === undefined) return { kind: "unknown", path };
  const ip = clientIp(req);
  if (ip === undefined || (req.method !== "GET" && req.method !== "POST")) return REFUSE;
  return { kind: "enroll", enrollment, ip };
}
