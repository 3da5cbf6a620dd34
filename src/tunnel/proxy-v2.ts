import { isIP } from "node:net";

/** The 12-byte signature every PROXY protocol v2 header starts with (spec section 2.2). */
export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** One end of a proxied TCP connection. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/**
 * A PROXY protocol v2 header (haproxy's proxy-protocol.txt, section 2.2) for a TCP
 * connection from `source` to `destination`: version 2, command PROXY, TCP over IPv4
 * (0x11, 12 address bytes) or IPv6 (0x21, 36 bytes). Addresses of mixed families (an
 * IPv4 client on an IPv6 listener) are both written as IPv6, IPv4-mapped. No TLVs.
 */
export function proxyV2Header(source: Endpoint, destination: Endpoint): Buffer {
  const v4 = isIP(unmap(source.address)) === 4 && isIP(unmap(destination.address)) === 4;
  const addressBytes = v4 ? 12 : 36;
  const header = Buffer.alloc(16 + addressBytes);
  PROXY_V2_SIGNATURE.copy(header, 0);
  header[12] = 0x21; // version 2, command PROXY
  header[13] = v4 ? 0x11 : 0x21; // AF_INET or AF_INET6, STREAM
  header.writeUInt16BE(addressBytes, 14);
  if (v4) {
    ipv4Bytes(unmap(source.address)).copy(header, 16);
    ipv4Bytes(unmap(destination.address)).copy(header, 20);
    header.writeUInt16BE(source.port, 24);
    header.writeUInt16BE(destination.port, 26);
  } else {
    ipv6Bytes(source.address).copy(header, 16);
    ipv6Bytes(destination.address).copy(header, 32);
    header.writeUInt16BE(source.port, 48);
    header.writeUInt16BE(destination.port, 50);
  }
  return header;
}

/** `::ffff:192.0.2.1` -> `192.0.2.1`; anything else unchanged. */
function unmap(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped?.[1] ?? address;
}

function ipv4Bytes(address: string): Buffer {
  return Buffer.from(address.split(".").map(Number));
}

/** 16 bytes of an IPv6 address; an IPv4 one becomes `::ffff:a.b.c.d`. */
function ipv6Bytes(address: string): Buffer {
  const plain = unmap(address);
  if (isIP(plain) === 4)
    return Buffer.concat([
      Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
      ipv4Bytes(plain),
    ]);
  let text = address.replace(/%.*$/, "");
  // A trailing dotted quad (::ffff:1.2.3.4 was handled; 64:ff9b::1.2.3.4 is not) becomes two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}
