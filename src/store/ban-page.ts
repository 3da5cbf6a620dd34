import { BAN_PAGE_DEFAULT, BAN_PAGE_MAX, type BanPage, type BanRecord } from "./types.js";

/** A requested page size, within 1..BAN_PAGE_MAX. */
export function pageLimit(limit: number | undefined): number {
  return Math.min(Math.max(1, Math.floor(limit ?? BAN_PAGE_DEFAULT)), BAN_PAGE_MAX);
}

/** A page of bans, with a cursor after its last ban when it is full (more may follow). */
export function pageOf(bans: BanRecord[], limit: number): BanPage {
  const last = bans[bans.length - 1];
  return bans.length === limit && last !== undefined
    ? { bans, next: { until: last.until, ip: last.ip } }
    : { bans };
}
