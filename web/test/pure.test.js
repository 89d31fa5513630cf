// The modules under js/lib/ are the page's pure helpers: no DOM, no
// network, no storage, so that they run here as in the browser.
import test from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";

const lib = new URL("../js/lib/", import.meta.url);
const files = readdirSync(lib).filter((f) => f.endsWith(".js"));

test("every pure module loads without a browser", async () => {
  assert.ok(files.length >= 5, files.join());
  for (const f of files) await import(new URL(f, lib));
});

test("no pure module touches the page, the network or storage", () => {
  const browserOnly = /\b(document|window|location|navigator|sessionStorage|localStorage|fetch|performance|XMLHttpRequest|addEventListener)\b/;
  for (const f of files) {
    const code = readFileSync(new URL(f, lib), "utf8").replace(/\/\/.*$/gm, "");
    assert.doesNotMatch(code, browserOnly, f);
    for (const [, spec] of code.matchAll(/^import .* from "([^"]+)";$/gm)) assert.match(spec, /^\.\/[a-z]+\.js$/, `${f} imports only pure modules`);
  }
});
