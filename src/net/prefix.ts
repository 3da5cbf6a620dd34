import { parseCidr } from "./ip.js";

/**
 * How many leading bits name one client. One person controls a whole IPv6 /64 (a
 * home or a phone gets one, and picks addresses in it at will), so limits and bans
 * that count single IPv6 addresses are undone by rotating through it.
 */
export interface PrefixLengths {
  /** IPv4 prefix length that counts as one client (`limits.ipv4Prefix`, 8 to 32). */
  readonly ipv4Prefix: number;
  /** IPv6 prefix length that counts as one client (`limits.ipv6Prefix`, 16 to 128). */
  readonly ipv6Prefix: number;
}

/** IPv4 /32 (an address; NAT already groups its users) and IPv6 /64 (RFC 6177 end site). */
export const DEFAULT_PREFIX_LENGTHS: PrefixLengths = Object.freeze({
  ipv4Prefix: 32,
  ipv6Prefix: 64,
});

/**
 * The client subject an address (or a subject already) belongs to: the address itself
 * when the prefix is the full length, else `network/length`, e.g. `2001:db8:1:2::/64`.
 * Limits, bans and scanner counts are kept per subject. Returns the input for anything
 * that is not an address or CIDR (callers only pass validated addresses).
 */
export function subjectOf(address: string, lengths: PrefixLengths): string {
  // The hot path (every knock step, every decoy): a v4 address with /32 needs no parsing.
  if (lengths.ipv4Prefix === 32 && !address.includes(":") && !address.includes("/")) return address;
  const cidr = parseCidr(address);
  if (cidr === undefined) return address;
  const max = cidr.family === 4 ? 32 : 128;
  const length = Math.min(cidr.prefix, cidr.family === 4 ? lengths.ipv4Prefix : lengths.ipv6Prefix);
  if (length === max) return cidr.address;
  const network = cidr.family === 4 ? maskV4(cidr.address, length) : maskV6(cidr.address, length);
  return `${network}/${length}`;
}

function maskV4(address: string, length: number): string {
  const value = address.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
  const masked = length === 0 ? 0 : (value & (~0 << (32 - length))) >>> 0;
  return [24, 16, 8, 0].map((shift) => (masked >>> shift) & 255).join(".");
}

function maskV6(address: string, length: number): string {
  let value = 0n;
  for (const group of groupsV6(address)) value = (value << 16n) | BigInt(group);
  const bits = BigInt(128 - length);
  const masked = (value >> bits) << bits;
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((masked >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  // The URL parser writes IPv6 in its canonical compressed form (RFC 5952).
  return new URL(`http://[${groups.join(":")}]`).hostname.slice(1, -1);
}

/** The eight 16-bit groups of a valid IPv6 address (embedded IPv4 included). */
function groupsV6(address: string): number[] {
  // Canonical form first: the URL parser turns a trailing dotted quad into two groups.
  const canonical = new URL(`http://[${address}]`).hostname.slice(1, -1);
  const [head = "", tail] = canonical.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}
