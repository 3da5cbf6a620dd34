import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import helmet from "helmet";

/** helmet's options, as `helmet()` takes them. */
export type HelmetOptions = NonNullable<Parameters<typeof helmet>[0]>;

/**
 * Runs helmet once against a recording response and returns the headers it sets, in
 * the order it sets them. Headers that do not vary per response are computed once at
 * start-up instead of running the middleware on every request.
 */
export function captureHelmetHeaders(options: HelmetOptions): OutgoingHttpHeaders {
  const recorded: OutgoingHttpHeaders = {};
  const recorder = {
    setHeader(name: string, value: string | number | readonly string[]) {
      recorded[name.toLowerCase()] = value as string;
      return recorder;
    },
    removeHeader(name: string) {
      Reflect.deleteProperty(recorded, name.toLowerCase());
    },
    getHeader(name: string) {
      return recorded[name.toLowerCase()];
    },
  };
  helmet(options)(
    { headers: {} } as unknown as IncomingMessage,
    recorder as unknown as ServerResponse,
    () => undefined,
  );
  return recorded;
}
