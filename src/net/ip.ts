import { BlockList, isIP } from "node:net";

/** Address family as the kernel and `net.isIP` name it. */
export type Family = 4 | 6;

const MAPPED_V4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Normalises a socket or header address: strips an IPv4-mapped IPv6 prefix
 * (`::ffff:203.0.113.7` becomes `203.0.113.7`, so it gets an IPv4 rule) and
 * lower-cases IPv6. Returns undefined for anything that is not an IP address,
 * including zone-scoped addresses, which a firewall rule cannot carry.
 */
export function normalizeIp(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  const mapped = MAPPED_V4.exec(value);
  const candidate = mapped?.[1] ?? value.toLowerCase();
  // net.isIP accepts a zone suffix (fe80::1%eth0), which no firewall rule can carry.
  return isIP(candidate) === 0 || candidate.includes("%") ? undefined : candidate;
}

/** The family of a valid address; throws on anything else. */
export function familyOf(ip: string): Family {
  const family = isIP(ip);
  if (family === 0) throw new TypeError(`Not an IP address: ${JSON.stringify(ip)}`);
  return family as Family;
}

/**
 * Named ranges accepted where CIDRs are, like Express's `trust proxy` keywords. A Map, so
 * an entry such as `constructor` can never find an inherited property.
 */
export const CIDR_KEYWORDS: ReadonlyMap<string, readonly string[]> = new Map([
  ["loopback", ["127.0.0.0/8", "::1/128"]],
  ["linklocal", ["169.254.0.0/16", "fe80::/10"]],
  ["private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]],
  ["uniquelocal", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]],
]);

/** A parsed CIDR such as `10.0.0.0/8`; a bare address is a host route. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: Family;
}

/** Parses `addr/prefix` or a bare address; undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [addressPart, prefixPart, extra] = text.trim().split("/");
  if (addressPart === undefined || extra !== undefined) return undefined;
  const address = normalizeIp(addressPart);
  if (address === undefined) return undefined;
  const family = familyOf(address);
  const max = family === 4 ? 32 : 128;
  if (prefixPart === undefined) return { address, prefix: max, family };
  if (!/^\d{1,3}$/.test(prefixPart)) return undefined;
  const prefix = Number(prefixPart);
  return prefix <= max ? { address, prefix, family } : undefined;
}

/** Expands keywords and validates every entry; returns the bad entries too. */
export function expandCidrs(entries: readonly string[]): { cidrs: Cidr[]; invalid: string[] } {
  const cidrs: Cidr[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    const named = CIDR_KEYWORDS.get(entry);
    for (const text of named ?? [entry]) {
      const cidr = parseCidr(text);
      if (cidr) cidrs.push(cidr);
      else invalid.push(entry);
    }
  }
  return { cidrs, invalid };
}

/**
 * A fast membership test over CIDRs and keywords, backed by `net.BlockList`.
 * Throws on an invalid entry: config validation reports those with their key path first.
 */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(entries: readonly string[]) {
    const { cidrs, invalid } = expandCidrs(entries);
    if (invalid.length > 0) throw new TypeError(`Invalid CIDR: ${invalid.join(", ")}`);
    for (const { address, prefix, family } of cidrs) {
      this.list.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
    }
    this.size = cidrs.length;
  }

  /** True when the (normalised) address lies in one of the ranges. */
  has(ip: string): boolean {
    const family = isIP(ip);
    if (family === 0) return false;
    return this.list.check(ip, family === 4 ? "ipv4" : "ipv6");
  }
}
