import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { MAX_PENDING_STEPS } from "../../src/http/answer-step.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { AdvanceOutcome, AdvanceRequest } from "../../src/store/types.js";
import { LAST, RecordingFirewall, SEQUENCE, testConfig } from "../support/gateway.js";
import { httpRequest, probe, rawRequest } from "../support/raw-http.js";

/** A MemoryStore that counts advances and can be told to fail them, or to never answer. */
class CountingStore extends MemoryStore {
  advances = 0;
  failing = false;
  throwing = false;
  hanging = false;
  override advance(request: AdvanceRequest): Promise<AdvanceOutcome> {
    this.advances++;
    if (this.throwing) throw new StoreUnavailableError(new Error("thrown"));
    if (this.failing) return Promise.reject(new StoreUnavailableError(new Error("down")));
    if (this.hanging) return new Promise(() => undefined);
    return super.advance(request);
  }
  override hasChallenge(door: string, ip: string): Promise<boolean> {
    if (this.failing) return Promise.reject(new StoreUnavailableError(new Error("down")));
    return super.hasChallenge(door, ip);
  }
}

describe("GET of an intermediate step (served by the edge without Express)", () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  async function start(store: CountingStore): Promise<number> {
    const gateway = createGateway(testConfig(), {
      log: silentLogger(),
      now: Date.now,
      store,
      firewall: new RecordingFirewall(),
    });
    const listening = createServer(gateway.handler);
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    return (listening.address() as AddressInfo).port;
  }
  const get = (port: number, path: string) =>
    rawRequest(port, httpRequest("GET", path, { "X-Forwarded-For": "203.0.113.80" }, ""));

  it("answers with the decoy bytes after exactly one store round trip", async () => {
    const store = new CountingStore();
    const port = await start(store);
    const random = await get(port, "/wp-login.php");
    expect(store.advances).toBe(0);
    expect(await get(port, SEQUENCE[0])).toEqual(random);
    expect(store.advances).toBe(1);
    expect(await get(port, `${SEQUENCE[1]}?x=1`)).toEqual(random);
    expect(store.advances).toBe(2);
  });

  it("answers the decoy, as a random path, when the store is down", async () => {
    const store = new CountingStore();
    store.failing = true;
    const port = await start(store);
    const random = await get(port, "/wp-login.php");
    expect(await get(port, SEQUENCE[0])).toEqual(random);
    expect(await get(port, SEQUENCE[1])).toEqual(random);
    expect(store.advances).toBe(2); // the step was tried, once each
  });

  it("answers the decoy when the store throws instead of rejecting", async () => {
    const store = new CountingStore();
    store.throwing = true;
    const port = await start(store);
    const random = await get(port, "/wp-login.php");
    expect(await get(port, SEQUENCE[0])).toEqual(random);
    expect(store.advances).toBe(1);
  });

  it("sends the decoy before the store answers; only the last step waits for it", async () => {
    const store = new CountingStore();
    store.hanging = true;
    const port = await start(store);
    const random = await get(port, "/wp-login.php");
    // Answered in full although the store never answers.
    expect(await get(port, SEQUENCE[0])).toEqual(random);
    expect(await get(port, SEQUENCE[1])).toEqual(random);
    expect(store.advances).toBe(2);
    const last = await probe(
      port,
      httpRequest("GET", LAST, { "X-Forwarded-For": "203.0.113.81" }),
      300,
    );
    expect(last.timing).toBe("waits");
  });

  it("records at most MAX_PENDING_STEPS steps while the store is slow, and still answers", async () => {
    const store = new CountingStore();
    store.hanging = true;
    const port = await start(store);
    const random = await get(port, "/wp-login.php");
    const extra = 5;
    for (let sent = 0; sent < MAX_PENDING_STEPS + extra; sent++) {
      expect(await get(port, SEQUENCE[sent % 2 === 0 ? 0 : 1])).toEqual(random);
    }
    expect(store.advances).toBe(MAX_PENDING_STEPS);
  });

  it("keeps the last step's 503 on an outage, for GET and POST", async () => {
    const store = new CountingStore();
    store.failing = true;
    const port = await start(store);
    expect((await get(port, LAST)).statusLine).toBe("HTTP/1.1 503 Service Unavailable");
    const post = await rawRequest(
      port,
      httpRequest(
        "POST",
        LAST,
        { "X-Forwarded-For": "203.0.113.82", "Content-Type": "application/json" },
        "{}",
      ),
    );
    expect(post.statusLine).toBe("HTTP/1.1 503 Service Unavailable");
  });

  it("answers HEAD on every step as on a random path, without touching the store", async () => {
    const store = new CountingStore();
    const port = await start(store);
    const head = (path: string) =>
      rawRequest(port, httpRequest("HEAD", path, { "X-Forwarded-For": "203.0.113.83" }, ""));
    const random = await head("/wp-login.php");
    for (const path of SEQUENCE) expect(await head(path)).toEqual(random);
    expect(store.advances).toBe(0);
  });
});
