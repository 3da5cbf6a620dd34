import { PassThrough } from "node:stream";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { FirewallError } from "../../src/errors.js";
import {
  IPSET_DIALECT,
  NFT_DIALECT,
  SessionBrokenError,
  ToolSession,
  type SessionDialect,
  type SessionProcess,
} from "../../src/firewall/session.js";

/** How the fake tool answers one line: stderr text (split into chunks), or silence. */
type Answer = (line: string) => string[] | "hang" | "exit";

/** nft's reply to a marker line, as `nft -i` prints it. */
const nftMarkerError = (token: string) =>
  `Error: syntax error, unexpected newline, expecting string\n${token}\n${" ".repeat(token.length)}^\n`;

/** A stand-in for `nft -i`/`ipset -` that answers each stdin line with `answer`; counts starts. */
function fakeTool(answer: Answer) {
  const started: string[][] = [];
  const spawn = (file: string, args: readonly string[]): SessionProcess => {
    started.push([file, ...args]);
    const stdin = new PassThrough();
    const stderr = new PassThrough();
    const exitListeners: (() => void)[] = [];
    let exited = false;
    let hung = false; // a hung tool reads on but never answers again
    const exit = () => {
      if (exited) return;
      exited = true;
      stdin.destroy();
      for (const listener of exitListeners) listener();
    };
    createInterface({ input: stdin }).on("line", (line) => {
      if (hung) return;
      const reply = answer(line);
      if (reply === "hang") hung = true;
      else if (reply === "exit") exit();
      else for (const chunk of reply) stderr.write(chunk);
    });
    return { stdin, stderr, kill: exit, onExit: (listener) => exitListeners.push(listener) };
  };
  return { spawn, started };
}

/** nft: markers answered in two chunks (split inside the block), `bad` lines refused. */
const nftLike: Answer = (line) => {
  if (line.startsWith("wkmark")) {
    const text = nftMarkerError(line);
    return [text.slice(0, 30), text.slice(30)];
  }
  if (line.includes("bad"))
    return [`Error: Could not process rule: No such file or directory\n${line}\n   ^^^\n`];
  if (line.includes("hang")) return "hang";
  if (line.includes("die")) return "exit";
  return [];
};

const session = (answer: Answer, dialect: SessionDialect = NFT_DIALECT, timeoutMs = 10_000) => {
  const tool = fakeTool(answer);
  return { tool, session: new ToolSession({ spawn: tool.spawn, dialect, timeoutMs }) };
};

describe("ToolSession", () => {
  it("runs commands in one process, in order, and resolves each when its marker arrives", async () => {
    const { tool, session: s } = session(nftLike);
    await Promise.all(["add element a", "add element b", "delete element c"].map((l) => s.run(l)));
    expect(tool.started).toEqual([["nft", "-i"]]);
    s.close();
  });

  it("rejects a refused command with the tool's own error, and the next command still runs", async () => {
    const { session: s } = session(nftLike);
    const refused = s.run("add element bad");
    await expect(refused).rejects.toThrow(FirewallError);
    await expect(refused).rejects.toThrow(/No such file or directory/);
    await expect(refused).rejects.not.toThrow(SessionBrokenError);
    await expect(s.run("add element ok")).resolves.toBeUndefined();
    s.close();
  });

  it("reports a dead process as broken and starts a new one for the next command", async () => {
    const { tool, session: s } = session(nftLike);
    await expect(s.run("die now")).rejects.toThrow(SessionBrokenError);
    await expect(s.run("add element ok")).resolves.toBeUndefined();
    expect(tool.started).toHaveLength(2);
    s.close();
  });

  it("gives up on a command that gets no answer, kills the process, and recovers", async () => {
    const { tool, session: s } = session(nftLike, NFT_DIALECT, 100);
    await expect(s.run("add element hang")).rejects.toThrow(SessionBrokenError);
    await expect(s.run("add element ok")).resolves.toBeUndefined();
    expect(tool.started).toHaveLength(2);
    s.close();
  });

  it("refuses a line that would smuggle a second command", () => {
    const { session: s } = session(nftLike);
    expect(() => s.run("add element a\nflush ruleset")).toThrow(FirewallError);
  });

  it("speaks ipset's interactive dialect: the marker is a create with an unknown type", async () => {
    const ipsetLike: Answer = (line) => {
      const marker = /^create m (wkmark\w+)$/.exec(line);
      if (marker) return [`ipset v7.17: Syntax error: typename '${marker[1] ?? ""}' is unknown\n`];
      if (line.startsWith("add NOSUCH"))
        return ["ipset v7.17: The set with the given name does not exist\n"];
      return [];
    };
    const { tool, session: s } = session(ipsetLike, IPSET_DIALECT);
    await expect(s.run("add WEBKNOCK4 10.0.0.1,tcp:22 timeout 60 -exist")).resolves.toBeUndefined();
    await expect(s.run("add NOSUCH 10.0.0.1,tcp:22 timeout 60 -exist")).rejects.toThrow(
      /set with the given name does not exist/,
    );
    expect(tool.started).toEqual([["ipset", "-"]]);
    s.close();
  });
});
