// DOM helpers: building elements, status lines, the banner.

export const $ = (sel, root = document) => root.querySelector(sel);

// Builds an element. Children that are strings become text nodes, so text
// from the API is never parsed as HTML.
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k in el && !k.includes("-")) el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid != null && kid !== false) el.append(kid);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

// Builds an SVG element; attributes as given, none left null.
export function svg(tag, attrs) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) el.setAttribute(k, v);
  return el;
}

// A status line's text and kind ("ok", "err" or none).
export function say(el, text, kind = "") {
  el.textContent = text;
  el.className = "status " + kind;
}

export const statusEl = (testid) =>
  h("p", { class: "status", role: "status", "aria-live": "polite", "data-testid": testid });

// Tells screen readers what just happened.
export function announce(text) {
  $("#announce").textContent = text;
}

// The site's own title beside the product name, unless it is the same.
export function siteTitle(p) {
  $("#site-title").textContent = p.title && p.title !== "chargebrain" ? p.title : "";
}

// The page's alert line; null or "" hides it.
export function banner(text) {
  const b = $("#banner");
  // Rewriting an alert every second would make screen readers repeat it.
  if (b.textContent !== (text || "")) b.textContent = text || "";
  b.hidden = !text;
}
