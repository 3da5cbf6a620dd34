import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { StoreUnavailableError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import type { AdvanceOutcome, AdvanceRequest } from "../../src/store/types.js";
import { RecordingFirewall, SEQUENCE, testConfig } from "../support/gateway.js";
import { httpRequest, rawRequest } from "../support/raw-http.js";

/** A MemoryStore that counts advances and can be told to fail them. */
class CountingStore extends MemoryStore {
  advances = 0;
  failing = false;
  throwing = false;
  override advance(request: AdvanceRequest): Promise<AdvanceOutcome> {
    this.advances++;
    if (this.throwing) throw new StoreUnavailableError(new Error("thrown"));
    if (this.failing) return Promise.reject(new StoreUnavailableError(new Error("down")));
    return super.advance(request);
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

  it("fails closed with a 503 when the store is down", async () => {
    const store = new CountingStore();
    store.failing = true;
    const port = await start(store);
    const reply = await get(port, SEQUENCE[0]);
    expect(reply.statusLine).toBe("HTTP/1.1 503 Service Unavailable");
    expect(store.advances).toBe(1); // no second round trip to a store that is down
  });

  it("fails closed with a 503 when the store throws instead of rejecting", async () => {
    const store = new CountingStore();
    store.throwing = true;
    const port = await start(store);
    const reply = await get(port, SEQUENCE[0]);
    expect(reply.statusLine).toBe("HTTP/1.1 503 Service Unavailable");
    expect(store.advances).toBe(1);
  });

  it("answers HEAD with the decoy", async () => {
    const store = new CountingStore();
    const port = await start(store);
    const reply = await rawRequest(port, httpRequest("HEAD", SEQUENCE[0], {}, ""));
    expect(reply.statusLine).toBe("HTTP/1.1 404 Not Found");
  });
});
