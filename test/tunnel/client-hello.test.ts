import { Duplex } from "node:stream";
import { connect } from "node:tls";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readClientHello } from "../../src/tunnel/client-hello.js";
import { classify } from "../../src/tunnel/peek.js";

/** The ClientHello Node's own TLS client writes for `servername`, captured in memory. */
async function realHello(servername?: string): Promise<Buffer> {
  return new Promise((resolve) => {
    const wire = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        resolve(chunk);
        callback();
      },
    });
    const tls = connect({ socket: wire, ...(servername === undefined ? {} : { servername }) });
    tls.on("error", () => undefined);
    setImmediate(() => tls.destroy());
  });
}

/** A minimal ClientHello record around the given extensions block. */
function hello(extensions: Buffer, opts: { recordLength?: number; helloLength?: number } = {}) {
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 7),
    Buffer.from([0]), // session id
    Buffer.from([0, 2, 0x13, 0x01]), // one cipher suite
    Buffer.from([1, 0]), // null compression
    u16(extensions.length),
    extensions,
  ]);
  const length = opts.helloLength ?? body.length;
  const handshake = Buffer.concat([
    Buffer.from([1, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff]),
    body,
  ]);
  return Buffer.concat([
    Buffer.from([0x16, 0x03, 0x01]),
    u16(opts.recordLength ?? handshake.length),
    handshake,
  ]);
}

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);

function sniExtension(name: string, type = 0): Buffer {
  const bytes = Buffer.from(name, "latin1");
  const list = Buffer.concat([Buffer.from([type]), u16(bytes.length), bytes]);
  const body = Buffer.concat([u16(list.length), list]);
  return Buffer.concat([u16(0), u16(body.length), body]);
}

describe("readClientHello", () => {
  it("reads the SNI of a real ClientHello, in any case, and none when there is none", async () => {
    expect(readClientHello(await realHello("SSH.Example.NET"))).toEqual({
      kind: "hello",
      sni: "ssh.example.net",
    });
    expect(readClientHello(await realHello())).toEqual({ kind: "hello" });
  });

  it("waits for the whole first record, byte by byte", async () => {
    const bytes = await realHello("a.example");
    for (let n = 0; n < bytes.length; n++) {
      expect(readClientHello(bytes.subarray(0, n)).kind).toBe("incomplete");
    }
    expect(readClientHello(bytes)).toEqual({ kind: "hello", sni: "a.example" });
  });

  it("skips other extensions and other name types", () => {
    const other = Buffer.concat([u16(0x0017), u16(0)]);
    expect(readClientHello(hello(Buffer.concat([other, sniExtension("b.example")])))).toEqual({
      kind: "hello",
      sni: "b.example",
    });
    expect(readClientHello(hello(sniExtension("b.example", 1)))).toEqual({ kind: "hello" });
  });

  it("refuses names that are not DNS names, and lengths that overrun", () => {
    expect(readClientHello(hello(sniExtension("a b.example"))).kind).toBe("invalid");
    expect(readClientHello(hello(sniExtension("é.example"))).kind).toBe("invalid");
    expect(readClientHello(hello(sniExtension("a".repeat(254)))).kind).toBe("invalid");
    const overrun = sniExtension("c.example");
    overrun.writeUInt16BE(200, 2); // extension length beyond the block
    expect(readClientHello(hello(overrun)).kind).toBe("invalid");
    // A hello longer than its record continues in the next one: no name is read.
    expect(readClientHello(hello(sniExtension("d.example"), { helloLength: 5000 }))).toEqual({
      kind: "hello",
    });
    expect(readClientHello(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])).kind).toBe("invalid");
    expect(readClientHello(Buffer.from("GET / HTTP/1.1\r\n")).kind).toBe("invalid");
  });

  it("never throws on any bytes, nor on any mutation of a real hello", async () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const result = readClientHello(Buffer.from(bytes));
        expect(["incomplete", "hello", "invalid"]).toContain(result.kind);
      }),
      { numRuns: 3000 },
    );
    const real = await realHello("e.example");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(real.length - 1), fc.integer({ min: 0, max: 255 })), {
          maxLength: 8,
        }),
        fc.nat(real.length),
        (edits, cut) => {
          const bytes = Buffer.from(real);
          for (const [at, value] of edits) bytes[at] = value;
          const result = readClientHello(bytes.subarray(0, cut));
          if (result.kind === "hello" && result.sni !== undefined) {
            expect(result.sni).toMatch(/^[a-z0-9.-]{1,253}$/);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("classify", () => {
  it("decides on the first byte that is neither S nor 0x16", () => {
    expect(classify(Buffer.from("G"), false)).toEqual({ kind: "other" });
    expect(classify(Buffer.from("\x00"), false)).toEqual({ kind: "other" });
    expect(classify(Buffer.from("SSX"), false)).toEqual({ kind: "other" });
  });

  it("waits for SSH- whole, and takes a prefix of it for other when time is up", () => {
    expect(classify(Buffer.from("SS"), false)).toEqual({ kind: "more" });
    expect(classify(Buffer.from("SS"), true)).toEqual({ kind: "other" });
    expect(classify(Buffer.from("SSH-2.0-OpenSSH_9.2p1\r\n"), false)).toEqual({ kind: "ssh" });
    expect(classify(Buffer.alloc(0), false)).toEqual({ kind: "more" });
    expect(classify(Buffer.alloc(0), true)).toEqual({ kind: "other" });
  });

  it("waits for no route the listener lacks", async () => {
    const partial = (await realHello("g.example")).subarray(0, 10);
    expect(classify(partial, false, { ssh: true, sni: false })).toEqual({ kind: "tls" });
    expect(classify(Buffer.from("SS"), false, { ssh: false, sni: true })).toEqual({
      kind: "other",
    });
  });

  it("waits for a whole ClientHello, and is TLS without a name when time is up", async () => {
    const bytes = await realHello("f.example");
    expect(classify(bytes.subarray(0, 10), false)).toEqual({ kind: "more" });
    expect(classify(bytes.subarray(0, 10), true)).toEqual({ kind: "tls" });
    expect(classify(bytes, false)).toEqual({ kind: "tls", sni: "f.example" });
  });
});
