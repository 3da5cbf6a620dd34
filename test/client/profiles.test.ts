import { describe, expect, it } from "vitest";
import { ClientConfigError, readProfile } from "../../src/client/profiles.js";

const FILE = "/home/alice/.config/webknock/client.yaml";
const read = (profile: string) =>
  readProfile(`profiles:\n  api:\n${profile}`, FILE, "api", { HOME: "/home/alice" });

describe("client profiles for rotating doors", () => {
  it("resolves sequenceKeyFile like secretFile, with rotate and steps", () => {
    const profile = read(
      "    url: https://gw.example.net\n    sequenceKeyFile: api.seqkey\n    rotate: 10m\n    steps: 3\n",
    );
    expect(profile.rotation).toEqual({
      keyFile: "/home/alice/.config/webknock/api.seqkey",
      rotateMs: 600_000,
      steps: 3,
    });
    expect(read("    sequenceKeyFile: ~/k\n    rotate: 1h\n    steps: 1\n").rotation?.keyFile).toBe(
      "/home/alice/k",
    );
  });

  it("refuses half a rotating door, or one beside a static sequence, naming the profile", () => {
    expect(() => read("    sequenceKeyFile: api.seqkey\n    steps: 3\n")).toThrow(
      new ClientConfigError(
        `${FILE}: profiles.api: a rotating door needs sequenceKeyFile, rotate and steps together, as 'webknock door key' prints them.`,
      ),
    );
    expect(() =>
      read("    sequence: /a,/b\n    sequenceKeyFile: k\n    rotate: 10m\n    steps: 2\n"),
    ).toThrow(/give either sequence \(a static door\) or sequenceKeyFile, rotate and steps/);
    expect(() => read("    sequenceKeyFile: k\n    rotate: 10x\n    steps: 2\n")).toThrow(
      /profiles\.api\.rotate: got "10x"; write the door's rotate duration, such as 10m/,
    );
    expect(() => read("    sequenceKeyFile: k\n    rotate: 10m\n    steps: 0\n")).toThrow(
      /profiles\.api\.steps: write the door's steps, 1 to 16/,
    );
  });
});
