import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { ConfigError, StoreUnavailableError } from "../src/errors.js";
import { createLogger } from "../src/log.js";

/** Logs one line through the real logger and returns it parsed. */
function logged(write: (log: ReturnType<typeof createLogger>) => void): Record<string, unknown> {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  write(createLogger({ destination }));
  const [line] = lines;
  if (line === undefined) throw new Error("nothing was logged");
  return JSON.parse(line) as Record<string, unknown>;
}

describe("log redaction", () => {
  it("keeps error codes: err.code says what failed", () => {
    const configError = logged((log) => {
      log.error({ err: new ConfigError("bad") }, "failed");
    });
    expect(configError.err).toMatchObject({ code: "ERR_CONFIG", message: "bad" });

    const refused = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    expect(
      logged((log) => {
        log.warn({ err: refused }, "x");
      }).err,
    ).toMatchObject({
      code: "ECONNREFUSED",
    });
    expect(
      logged((log) => {
        log.warn({ error: new StoreUnavailableError(refused) }, "x");
      }).error,
    ).toMatchObject({ code: "ERR_STORE_UNAVAILABLE" });
  });

  it("still hides TOTP codes and secrets wherever they appear", () => {
    const line = logged((log) => {
      log.info(
        {
          code: "123456",
          body: { code: "654321", user: "alice" },
          form: { code: "000000" },
          secret: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JP",
          user: { secret: "NB2HI4DTHIXS6ZLYMFWXA3DFFZRW63JP" },
          err: { code: "12345678" },
          granted: { closeToken: "c1ose-t0ken-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
          closeToken: "c1ose-t0ken-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
        },
        "x",
      );
    });
    const text = JSON.stringify(line);
    for (const value of ["123456", "654321", "000000", "12345678", "NB2HI4DT", "c1ose-t0ken"]) {
      expect(text).not.toContain(value);
    }
    expect(line).toMatchObject({
      code: "[redacted]",
      body: { code: "[redacted]", user: "alice" },
      form: { code: "[redacted]" },
      secret: "[redacted]",
      user: { secret: "[redacted]" },
    });
  });
});
