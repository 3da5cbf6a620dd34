import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  deleteCommand,
  loopbackOnly,
  matchesNew,
  matchesPort,
  parseXtRule,
  portListHas,
  sourceOf,
} from "../../src/doctor/xtables-match.js";

const rule = (line: string) => {
  const parsed = parseXtRule(line);
  if (parsed === undefined) throw new Error(`not a rule: ${line}`);
  return parsed;
};
const ssh = { proto: "tcp", port: 22 } as const;

describe("reading iptables -S rules", () => {
  it("matches on protocol and every port form iptables prints", () => {
    expect(matchesPort(rule("-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"), ssh)).toBe(true);
    expect(matchesPort(rule("-A INPUT -p tcp -m tcp --dport 23 -j ACCEPT"), ssh)).toBe(false);
    expect(matchesPort(rule("-A INPUT -p udp -m udp --dport 22 -j ACCEPT"), ssh)).toBe(false);
    expect(matchesPort(rule("-A INPUT -p 6 --dport 20:25 -j ACCEPT"), ssh)).toBe(true);
    expect(matchesPort(rule("-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT"), ssh)).toBe(
      false,
    );
    expect(matchesPort(rule("-A INPUT -p tcp -m multiport --dports 80,20:30 -j ACCEPT"), ssh)).toBe(
      true,
    );
    expect(matchesPort(rule("-A INPUT -j ACCEPT"), ssh)).toBe(true);
  });

  it("counts a negated match as matching (never waves a hole through)", () => {
    expect(matchesPort(rule("-A INPUT -p tcp -m tcp ! --dport 22 -j ACCEPT"), ssh)).toBe(true);
    expect(matchesPort(rule("-A INPUT ! -p udp -j ACCEPT"), ssh)).toBe(true);
    expect(matchesNew(rule("-A INPUT -m conntrack ! --ctstate NEW -j ACCEPT"))).toBe(true);
  });

  it("knows the rules that cannot admit a new connection from the network", () => {
    expect(matchesNew(rule("-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"))).toBe(
      false,
    );
    expect(matchesNew(rule("-A INPUT -m state --state NEW,ESTABLISHED -j ACCEPT"))).toBe(true);
    expect(loopbackOnly(rule("-A INPUT -i lo -j ACCEPT"))).toBe(true);
    expect(loopbackOnly(rule("-A INPUT ! -i lo -j ACCEPT"))).toBe(false);
  });

  it("quotes the source and builds the -D command from the printed spec", () => {
    const r = rule('-A INPUT -s 10.0.0.0/8 -p tcp -m comment --comment "admin net" -j ACCEPT');
    expect(sourceOf(r)).toBe("from 10.0.0.0/8");
    expect(deleteCommand("iptables", "filter", r)).toBe(
      'iptables -D INPUT -s 10.0.0.0/8 -p tcp -m comment --comment "admin net" -j ACCEPT',
    );
    expect(deleteCommand("ip6tables", "raw", rule("-A PREROUTING -j CT --notrack"))).toBe(
      "ip6tables -t raw -D PREROUTING -j CT --notrack",
    );
    expect(parseXtRule("-P INPUT ACCEPT")).toBeUndefined();
  });

  it("port lists: a range holds exactly the ports between its ends", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        (a, b, port) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          expect(portListHas(`${low}:${high}`, port)).toBe(low <= port && port <= high);
          expect(portListHas(`1,${low}:${high}`, port)).toBe(
            port === 1 || (low <= port && port <= high),
          );
        },
      ),
    );
  });
});
