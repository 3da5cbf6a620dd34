import { randomBytes, createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { request, WebSocket } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../../src/gateway.js";
import { silentLogger } from "../../src/log.js";
import { MemoryStore } from "../../src/store/memory.js";
import { LAST, RecordingFirewall, SEQUENCE, testConfig } from "../support/gateway.js";
import { freePort } from "../support/redis-server.js";
import { send, type Reply } from "../defences/support.js";
import { createStranger, type Stranger } from "../../src/stealth/stranger.js";
import { startUpstreamSite, type Seen, type UpstreamSite } from "../support/upstream-site.js";

/** A front server wired as the edge wires the stranger: refuse first, then answer. */
async function front(stranger: Stranger): Promise<{ port: number; server: Server }> {
  const server = createServer(stranger.serverOptions, (req, res) => {
    if (!stranger.refuse(req, res)) stranger.answer(req, res);
  });
  stranger.attach(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

const names = (a: Reply) => a.rawHeaders.filter((_v, i) => i % 2 === 0).map((n) => n.toLowerCase());

describe("decoy: upstream (a real site behind the knock paths)", () => {
  let site: UpstreamSite;
  let stranger: Stranger;
  let port: number;
  let server: Server;
  beforeAll(async () => {
    site = await startUpstreamSite();
    stranger = createStranger({ decoy: "upstream", upstream: site.url });
    ({ port, server } = await front(stranger));
  });
  afterAll(async () => {
    await stop(server);
    await stranger.close();
    await site.close();
  });

  it("forwards method, path, query and Host, and sets X-Forwarded-For and -Proto", async () => {
    const answer = await send(port, "GET", "/blog/post?id=7", {
      Host: "www.example.org",
      "X-Forwarded-For": "198.51.100.9",
      "X-Forwarded-Proto": "https",
    });
    expect(answer.status).toBe(200);
    const seen = JSON.parse(answer.body) as Seen;
    expect(seen.method).toBe("GET");
    expect(seen.url).toBe("/blog/post?id=7");
    expect(seen.headers.host).toBe("www.example.org");
    // The client's claim stays (the site decides whom to trust), our peer is appended.
    expect(seen.headers["x-forwarded-for"]).toBe("198.51.100.9, 127.0.0.1");
    expect(seen.headers["x-forwarded-proto"]).toBe("http");
  });

  it("strips hop-by-hop headers both ways and keeps repeated end-to-end ones", async () => {
    const answer = await send(port, "GET", "/x", {
      Connection: "keep-alive, X-Client-Hop",
      "X-Client-Hop": "1",
      "Keep-Alive": "timeout=9",
      "Proxy-Authorization": "Basic Zm9vOmJhcg==",
      TE: "trailers",
    });
    const seen = JSON.parse(answer.body) as Seen;
    for (const hop of ["x-client-hop", "keep-alive", "proxy-authorization", "te"]) {
      expect(seen.headers[hop]).toBeUndefined();
    }
    expect(names(answer)).not.toContain("x-private-hop");
    expect(names(answer)).not.toContain("keep-alive");
    expect(names(answer).filter((n) => n === "set-cookie")).toHaveLength(2);
    expect(names(answer)).toContain("x-site");
  });

  it("streams a 2 MB request body through and the answer back as it comes", async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const answer = await send(port, "POST", "/upload", { "Content-Type": "x/y" }, body);
    const seen = JSON.parse(answer.body) as Seen;
    expect(seen.bodyLength).toBe(body.length);
    expect(seen.bodySha256).toBe(createHash("sha256").update(body).digest("hex"));

    // The first chunk reaches the client while the site still holds back the second.
    const streamed = await request(`http://127.0.0.1:${String(port)}/stream`);
    const received: string[] = [];
    for await (const chunk of streamed.body) {
      received.push(String(chunk));
      if (received.length === 1) site.releaseStream();
    }
    expect(received[0]).toBe("first,");
    expect(received.join("")).toBe("first,second");
  });

  it("says 100 Continue to a client that waits for it before sending its body", async () => {
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString()));
    socket.write(
      "POST /form HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
    );
    for (let i = 0; i < 50 && !text.includes("100 Continue"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    socket.write("hello");
    await new Promise((resolve) => socket.once("close", resolve));
    const seen = JSON.parse(/\{.*\}/s.exec(text)?.[0] ?? "") as Seen;
    expect(seen.bodyLength).toBe(5);
    expect(seen.headers.expect).toBeUndefined();
  });

  it("passes a WebSocket upgrade through, both directions", async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${String(port)}/ws`);
    const echoed = await new Promise<string>((resolve, reject) => {
      ws.addEventListener("open", () => {
        ws.send("hello through the proxy");
      });
      ws.addEventListener("message", (event) => {
        resolve(String(event.data));
      });
      ws.addEventListener("error", () => {
        reject(new Error("websocket failed"));
      });
    });
    ws.close();
    expect(echoed).toBe("hello through the proxy");
  });
});

describe("decoy: upstream when the site fails", () => {
  const opened: { stranger: Stranger; server: Server }[] = [];
  afterEach(async () => {
    for (const { stranger, server } of opened.splice(0)) {
      await stop(server);
      await stranger.close();
    }
  });

  it("answers a dead upstream with nginx's 502", async () => {
    const dead = `http://127.0.0.1:${String(await freePort())}`;
    const stranger = createStranger({ decoy: "upstream", upstream: dead });
    const { port, server } = await front(stranger);
    opened.push({ stranger, server });
    const answer = await send(port, "GET", "/");
    expect(answer.status).toBe(502);
    expect(answer.rawHeaders.slice(0, 2)).toEqual(["Server", "nginx"]);
    expect(answer.body).toContain("<center><h1>502 Bad Gateway</h1></center>");
    // A WebSocket upgrade to a dead upstream gets the same 502.
    const upgrade = await send(port, "GET", "/ws", {
      Connection: "Upgrade",
      Upgrade: "websocket",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "13",
    }).catch((error: unknown) => error);
    expect(upgrade).toMatchObject({ status: 502 });
  });

  it("answers an upstream that never sends headers with nginx's 504", async () => {
    const site = await startUpstreamSite();
    const stranger = createStranger(
      { decoy: "upstream", upstream: site.url },
      { upstreamTimeouts: { connectMs: 500, headersMs: 300, bodyMs: 300 } },
    );
    const { port, server } = await front(stranger);
    opened.push({ stranger, server });
    try {
      const answer = await send(port, "GET", "/never");
      expect(answer.status).toBe(504);
      expect(answer.body).toContain("<center><h1>504 Gateway Time-out</h1></center>");
    } finally {
      await site.close();
    }
  });
});

describe("decoy: upstream inside the gateway", () => {
  let site: UpstreamSite;
  let gateway: Gateway;
  let port: number;
  beforeAll(async () => {
    site = await startUpstreamSite();
    const now = () => Date.now();
    gateway = createGateway(
      testConfig({
        server: {
          listen: [{ host: "127.0.0.1", port: 0 }],
          trustProxy: ["loopback"],
          decoy: "upstream",
          upstream: site.url,
        },
      }),
      { log: silentLogger(), now, store: new MemoryStore(now), firewall: new RecordingFirewall() },
    );
    const [url = ""] = await gateway.start();
    port = Number(new URL(url).port);
  });
  afterAll(async () => {
    await gateway.stop();
    await site.close();
  });

  it("hides the knock among the site's pages: steps answer as the site does, the last issues a challenge", async () => {
    // The last step without a walk: the knock app refuses it after helmet ran, and the
    // site's answer must not carry helmet's headers.
    const cold = await send(port, "GET", LAST, { "X-Forwarded-For": "203.0.113.91" });
    expect(cold.status).toBe(200);
    expect(names(cold)).toContain("x-site");
    expect(names(cold)).not.toContain("content-security-policy");
    const ip = { "X-Forwarded-For": "203.0.113.90" };
    const random = await send(port, "GET", "/about", ip);
    expect(random.status).toBe(200);
    expect(names(random)).toContain("x-site");
    // An intermediate step is what the site answers for that path, not a 404 of ours.
    const first = await send(port, "GET", SEQUENCE[0], ip);
    expect(first.status).toBe(200);
    expect((JSON.parse(first.body) as Seen).url).toBe(SEQUENCE[0]);
    await send(port, "GET", SEQUENCE[1], ip);
    const last = await send(port, "GET", LAST, ip);
    expect(last.status).toBe(200);
    expect(names(last)).toContain("content-security-policy");
    expect(names(last)).not.toContain("x-site");
  });
});

describe("server.decoy and server.upstream in the config", () => {
  it("refuses decoy: upstream without an upstream, naming the key and the fix", () => {
    expect(() =>
      testConfig({ server: { listen: [{ host: "127.0.0.1", port: 0 }], decoy: "upstream" } }),
    ).toThrow(/server\.upstream[\s\S]*http:\/\/127\.0\.0\.1:8081/);
  });

  it("refuses an unknown profile and a URL that is not http(s)", () => {
    expect(() => testConfig({ server: { decoy: "apache" } })).toThrow(/server\.decoy.*"apache"/);
    expect(() =>
      testConfig({ server: { decoy: "upstream", upstream: "ftp://127.0.0.1" } }),
    ).toThrow(/server\.upstream/);
  });
});
