import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { hostsSection } from "../../src/http/answer-redeem.js";
import { Views } from "../../src/http/views.js";

/** A views directory whose `granted` page is `body`, the others empty. */
function viewsWith(body: string): Views {
  const dir = mkdtempSync(join(tmpdir(), "webknock-views-"));
  writeFileSync(join(dir, "layout.html"), "{{{body}}}");
  for (const name of [
    "challenge",
    "passkey",
    "closed",
    "denied",
    "unavailable",
    "enroll",
    "enrolled",
  ])
    writeFileSync(join(dir, `${name}.html`), "");
  writeFileSync(join(dir, "granted.html"), body);
  return new Views(dir);
}

describe("views", () => {
  it("inserts trusted slots as they are, and only where the template has them", () => {
    const views = viewsWith("{{{script}}}|{{#items}}{{name}}{{/items}}|{{text}}");
    expect(
      views.render(
        "granted",
        { items: [{ name: "<a>" }], text: "{{{script}}}" },
        { script: "<b>" },
      ),
    ).toBe("<b>|&lt;a&gt;|{{{script}}}");
    expect(() => views.render("granted", { items: [], text: "" })).toThrow(/trusted text/);
  });

  it("repeats a section per item, nested sections too, and drops it for an empty list", () => {
    const views = viewsWith("{{#outer}}[{{title}}:{{#items}}<{{name}}>{{/items}}]{{/outer}}");
    expect(
      views.render("granted", {
        title: "T",
        outer: [{ items: [{ name: "a" }, { name: "b" }] }],
      }),
    ).toBe("[T:<a><b>]");
    expect(views.render("granted", { title: "T", outer: [] })).toBe("");
  });

  it("escapes values and never expands a value that looks like a tag", () => {
    const views = viewsWith("{{a}}|{{#l}}{{b}}{{/l}}|{{nonce}}");
    expect(views.render("granted", { a: "<i>{{nonce}}</i>", l: [{ b: "\"'&" }], nonce: "N" })).toBe(
      "&lt;i&gt;{{nonce}}&lt;/i&gt;|&quot;&#39;&amp;|N",
    );
  });

  it("refuses a missing value or a list where a value belongs", () => {
    const views = viewsWith("{{a}}{{#l}}x{{/l}}");
    expect(() => views.render("granted", { l: [] })).toThrow(/needs a value for \{\{a\}\}/);
    expect(() => views.render("granted", { a: "x", l: "y" })).toThrow(/needs a list/);
    expect(() => views.render("granted", { a: [], l: [] })).toThrow(/needs a value/);
  });

  it("lists hosts only when a door names an agent's host, noting pending ones", () => {
    expect(hostsSection({ local: "open" })).toEqual([]);
    expect(hostsSection({ web1: "open" })).toEqual([
      { hosts: [{ host: "web1", state: "open", stateClass: "ok" }], pendingNote: [] },
    ]);
    const mixed = hostsSection({ local: "open", web2: "pending" });
    expect(mixed[0]?.pendingNote).toEqual([{}]);
    expect(mixed[0]?.hosts).toEqual([
      { host: "local", state: "open", stateClass: "ok" },
      { host: "web2", state: "pending", stateClass: "pending" },
    ]);
  });

  it("renders the real result page with its host list", () => {
    const html = new Views().render("granted", {
      title: "Open",
      nonce: "n0",
      ip: "192.0.2.1",
      ports: "tcp/22",
      openFor: 30,
      expiresAtIso: "2026-01-01T00:00:00.000Z",
      expiresAtText: "00:00:00 UTC",
      fleet: hostsSection({ web1: "open", web2: "pending" }),
      closeAction: "/s/c9e044.css",
      closeToken: "t0",
    });
    expect(html).toMatch(/<span class="host">web1<\/span><span class="state ok">open<\/span>/);
    expect(html).toMatch(
      /<span class="host">web2<\/span><span class="state pending">pending<\/span>/,
    );
    expect(html).not.toMatch(/\{\{/);
  });
});
