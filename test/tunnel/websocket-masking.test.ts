import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);

interface MaskModule {
  readonly mask: (
    source: Buffer,
    mask: Buffer,
    output: Buffer,
    offset: number,
    length: number,
  ) => void;
  readonly unmask: (buffer: Buffer, mask: Buffer) => void;
}

/**
 * The WebSocket route and `webknock tunnel --ws` mask or unmask every byte they carry. ws
 * does it in a JavaScript loop unless the optional `bufferutil` loads its native binding
 * (a prebuilt one for linux-x64): measured, the route's SSH rate went from 0.33x to about
 * 0.5x of direct with it. An install that silently fell back would lose that.
 */
describe("WebSocket masking", () => {
  it("uses bufferutil's native binding, not its JavaScript fallback", () => {
    const native = require("bufferutil") as MaskModule;
    const fallback = require("bufferutil/fallback") as MaskModule;
    expect(process.env.WS_NO_BUFFER_UTIL).toBeUndefined();
    expect(native.mask).not.toBe(fallback.mask);
    expect(native.unmask).not.toBe(fallback.unmask);
  });

  it("masks and unmasks 64 KiB the same way the RFC 6455 loop does", () => {
    const source = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7) & 0xff));
    const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
    const masked = Buffer.alloc(source.length);
    (require("bufferutil") as MaskModule).mask(source, key, masked, 0, source.length);
    const expected = source.map((byte, i) => byte ^ (key[i % 4] ?? 0));
    expect(masked.equals(expected)).toBe(true);
    (require("bufferutil") as MaskModule).unmask(masked, key);
    expect(masked.equals(source)).toBe(true);
  });
});
