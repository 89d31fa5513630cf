// Form fields bound to an API key.

import { h } from "./dom.js";
import { changedValues, fieldValue } from "./lib/parse.js";

// One labelled input. def = [key, label, type, hint or options]; type is
// text, number, optional (a number an empty field clears), formula (a
// number of mA or a formula's text), check or select (options: [[value,
// words], …]). read() gives the value for the API, undefined for an empty
// field.
export function field([key, label, type, extra], value, prefix, name = key) {
  const id = prefix + key;
  let input;
  if (type === "select") {
    input = h("select", { id, name }, extra.map(([v, t]) => h("option", { value: String(v), text: t })));
    if (value != null) input.value = String(value);
  } else if (type === "check") {
    input = h("input", { id, name, type: "checkbox", checked: !!value });
  } else {
    const numeric = type === "number" || type === "optional";
    input = h("input", { id, name, type: numeric ? "number" : "text", value: value ?? "" });
    if (numeric) input.step = "any";
  }
  const hint = type !== "select" && extra ? h("small", { id: id + "-hint", text: extra }) : null;
  if (hint) input.setAttribute("aria-describedby", hint.id);
  const lab = h("label", { for: id, text: label });
  const wrap = type === "check" ? h("div", { class: "field check" }, input, lab, hint) : h("div", { class: "field" }, lab, input, hint);
  const f = {
    key, wrap, input, label,
    read() {
      if (type === "check") return input.checked;
      if (type === "select") {
        const o = extra[input.selectedIndex];
        return o ? o[0] : undefined;
      }
      return fieldValue(type, input.value, label);
    },
  };
  f.orig = value == null ? (type === "optional" ? null : undefined) : f.read();
  return f;
}

// The shown fields that differ from what was loaded (all: every shown
// field with a value); an emptied field is an error.
export const changes = (fields, all) => changedValues(fields.filter((f) => !f.wrap.hidden), all);
