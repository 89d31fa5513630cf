// Users: the list, and a form to add or edit one (name, cards and PINs,
// what a card does, the wallboxes the user may charge at).

import { h, say, statusEl } from "../dom.js";
import { api } from "../api.js";
import { field } from "../form.js";
import { CHOICE_FIELDS, filterQuery, isWallbox } from "../lib/devices.js";
import { daemonMeta } from "../meta.js";
import { RIGHTS, rightOfCards, userBody } from "../lib/users.js";

export async function users(root) {
  const st = statusEl("users-status");
  const list = h("ul", { class: "rows" });
  const panel = h("section", { class: "panel", hidden: true, "aria-labelledby": "user-form-h" });
  const add = h("button", { type: "button", class: "primary", "data-testid": "user-new", text: "Add a user" });
  add.addEventListener("click", () => openForm());
  root.append(h("h1", { text: "Users" }),
    h("p", { class: "hint", text: "A car plugged into a wallbox that has users charges once one of them presents a card or PIN. Users cannot be deleted through the API: take away their cards and wallboxes instead." }),
    h("div", { class: "buttons" }, add), panel, st, list);
  let all = [];
  let boxes = [];

  async function load() {
    const [u, info, meta] = await Promise.all([api("get_users"), api("get_dev_info", filterQuery(CHOICE_FIELDS)), daemonMeta()]);
    if (!root.isConnected) return;
    all = u;
    boxes = info.devices.filter(isWallbox(meta));
    list.replaceChildren(...all.map(row));
    if (!all.length) list.append(h("li", { class: "row", text: "No users yet." }));
  }

  function row(u) {
    const edit = h("button", { type: "button", text: "Edit", "aria-label": "Edit " + (u.name || u.id) });
    edit.addEventListener("click", () => openForm(u));
    const cards = (u.rfids || []).map((r) => r.id).join(", ");
    return h("li", { class: "row", "data-testid": "user-row-" + u.id },
      h("div", { class: "what" }, h("strong", { class: "uname", text: u.name || "(no name)" }),
        h("span", { class: "cards", text: "Cards: " + (cards || "none") }),
        h("small", { text: `Wallboxes: ${(u.dev_ids || []).join(", ") || "none"} · id ${u.id}` })),
      h("div", { class: "buttons" }, edit));
  }

  function openForm(u) {
    const isNew = !u;
    const rfids = u?.rfids || [];
    const nameF = field(["name", "Name", "text"], u?.name ?? "", "u-", "user_name");
    const dispF = field(["display", "Show the name while plugged in", "check"], u?.display === true, "u-");
    const cardsF = field(["cards", "Cards and PINs", "text", "Comma-separated card ids or PINs (letters and digits)"],
      rfids.map((r) => r.id).join(", "), "u-");
    const boxChecks = boxes.map((b) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "dev_ids", value: b.dev_id, checked: (u?.dev_ids || []).includes(b.dev_id) }), ` ${b.name || b.dev_id} (${b.dev_id})`));
    // A right is the same for all cards here; where the cards differ the box
    // stays undecided and each card keeps its own until it is clicked.
    const rights = RIGHTS.map(([key, label, dflt]) => {
      const { checked, undecided } = rightOfCards(rfids, key, dflt);
      const input = h("input", { type: "checkbox", id: "u-" + key, checked });
      input.indeterminate = undecided;
      return { key, input, wrap: h("div", { class: "field check" }, input, h("label", { for: input.id, text: label })) };
    });
    const cancel = h("button", { type: "button", text: "Cancel" });
    cancel.addEventListener("click", () => {
      panel.hidden = true;
      add.focus();
    });
    const form = h("form", { class: "form", noValidate: true },
      nameF.wrap, dispF.wrap,
      h("fieldset", { class: "boxes" }, h("legend", { text: "May charge at" }), boxChecks.length ? boxChecks : h("p", { text: "No wallboxes." })),
      cardsF.wrap, rights.map((r) => r.wrap),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", "data-testid": "user-save", text: isNew ? "Add user" : "Save" }), cancel));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = userBody(u, {
        name: nameF.input.value,
        display: dispF.input.checked,
        devIds: [...form.querySelectorAll('input[name="dev_ids"]:checked')].map((i) => i.value),
        cards: cardsF.input.value,
        rights: Object.fromEntries(rights.map((r) => [r.key, r.input.indeterminate ? null : r.input.checked])),
      });
      say(st, "Saving…");
      try {
        if (isNew) body.id = await api("get_new_user_id");
        await api("set_user", {}, body);
        panel.hidden = true;
        say(st, `Saved ${body.name || body.id}`, "ok");
        await load();
      } catch (err) {
        say(st, err.message, "err");
      }
    });
    panel.replaceChildren(h("h2", { id: "user-form-h", text: isNew ? "Add a user" : "Edit " + (u.name || u.id) }), form);
    panel.hidden = false;
    nameF.input.focus();
  }

  await load();
}
