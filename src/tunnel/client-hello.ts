/** What the first bytes of a TLS connection say about the server name asked for. */
export type HelloResult =
  /** More bytes are needed to read the first record whole. */
  | { readonly kind: "incomplete" }
  /** A ClientHello; `sni` is its host_name, lower case, if it names one. */
  | { readonly kind: "hello"; readonly sni?: string }
  /** Not a ClientHello this reader understands: route it as any other TLS. */
  | { readonly kind: "invalid" };

const INCOMPLETE: HelloResult = Object.freeze({ kind: "incomplete" });
const INVALID: HelloResult = Object.freeze({ kind: "invalid" });
const NO_SNI: HelloResult = Object.freeze({ kind: "hello" });

/** TLS record content type handshake (RFC 8446 5.1) and handshake type client_hello (4). */
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
/** The server_name extension (RFC 6066 3) and its host_name entry type. */
const SERVER_NAME = 0x0000;
const HOST_NAME = 0x00;
/** A DNS name is at most 253 characters (RFC 1035), and a record at most 2^14 + 5 bytes. */
const MAX_NAME = 253;
const MAX_RECORD = 16_384 + 256;

/** Reads big-endian fields with a cursor; every read is bounds-checked (no throw). */
class Reader {
  constructor(
    private readonly buf: Buffer,
    private at: number,
    private readonly end: number,
  ) {}
  /** True when `n` more bytes are there. */
  has(n: number): boolean {
    return this.at + n <= this.end;
  }
  u8(): number {
    return this.has(1) ? (this.buf[this.at++] ?? -1) : -1;
  }
  u16(): number {
    if (!this.has(2)) return -1;
    const value = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return value;
  }
  skip(n: number): boolean {
    if (n < 0 || !this.has(n)) return false;
    this.at += n;
    return true;
  }
  /** A sub-reader over the next `n` bytes, which this one skips; undefined if short. */
  sub(n: number): Reader | undefined {
    if (n < 0 || !this.has(n)) return undefined;
    const inner = new Reader(this.buf, this.at, this.at + n);
    this.at += n;
    return inner;
  }
  bytes(n: number): Buffer | undefined {
    if (n < 0 || !this.has(n)) return undefined;
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}

/**
 * Finds the SNI of a TLS ClientHello in the first record of `buf`, by hand, with every
 * length checked against its enclosing one. A ClientHello split over several records,
 * or anything malformed, reads as "invalid" or as a hello without a name: such clients
 * are the HTTPS server's, which answers them as it always did. Never throws.
 */
export function readClientHello(buf: Buffer): HelloResult {
  if (buf.length === 0) return INCOMPLETE;
  if (buf[0] !== HANDSHAKE) return INVALID;
  if (buf.length < 5) return INCOMPLETE;
  // Record versions are 0x0300-0x0304; the first byte 3 is all middleboxes check.
  if (buf[1] !== 0x03) return INVALID;
  const recordLength = buf.readUInt16BE(3);
  if (recordLength < 4 || recordLength > MAX_RECORD) return INVALID;
  if (buf.length < 5 + recordLength) return INCOMPLETE;
  const record = new Reader(buf, 5, 5 + recordLength);
  if (record.u8() !== CLIENT_HELLO) return INVALID;
  const high = record.u8();
  const length = (high << 16) | record.u16();
  // A hello longer than its record continues in the next one: no name read here.
  const hello = record.sub(length);
  if (hello === undefined) return NO_SNI;
  if (!hello.skip(2 + 32)) return INVALID; // client_version, random
  if (!hello.skip(hello.u8())) return INVALID; // session_id
  if (!hello.skip(hello.u16())) return INVALID; // cipher_suites
  if (!hello.skip(hello.u8())) return INVALID; // compression_methods
  if (!hello.has(2)) return NO_SNI; // no extensions at all (TLS 1.0 style)
  const extensions = hello.sub(hello.u16());
  if (extensions === undefined) return INVALID;
  while (extensions.has(4)) {
    const type = extensions.u16();
    const body = extensions.sub(extensions.u16());
    if (body === undefined) return INVALID;
    if (type === SERVER_NAME) return serverName(body);
  }
  return NO_SNI;
}

/** The host_name of a server_name extension body. */
function serverName(body: Reader): HelloResult {
  const list = body.sub(body.u16());
  if (list === undefined) return INVALID;
  while (list.has(3)) {
    const type = list.u8();
    const name = list.bytes(list.u16());
    if (name === undefined) return INVALID;
    if (type !== HOST_NAME) continue;
    if (name.length === 0 || name.length > MAX_NAME) return INVALID;
    const text = name.toString("latin1");
    // RFC 6066: ASCII, no trailing dot; anything else is no name of ours.
    if (!/^[A-Za-z0-9.-]+$/.test(text)) return INVALID;
    return { kind: "hello", sni: text.toLowerCase() };
  }
  return NO_SNI;
}
