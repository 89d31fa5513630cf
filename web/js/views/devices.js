// Devices: the list, and a form to add or edit one. The types, their
// kinds and the roles come from the daemon (get_params's dev_meta, meta).

import { h, say, statusEl } from "../dom.js";
import { api } from "../api.js";
import { changes, field } from "../form.js";
import { DEVICE_DEFAULTS, askingRows, defaultType, deviceFields, metaOf, nextId, typeInfo, typeOptions } from "../lib/devices.js";

export async function devices(root) {
  const st = statusEl("devices-status");
  const list = h("ul", { class: "rows" });
  const panel = h("section", { class: "panel", hidden: true, "aria-labelledby": "dev-form-h" });
  const add = h("button", { type: "button", class: "primary", "data-testid": "device-new", text: "Add a device" });
  add.addEventListener("click", () => openForm());
  // OCPP charge points that are not devices yet and asked to connect.
  const asking = h("ul", { class: "rows", "data-testid": "ocpp-asking" });
  const askingPanel = h("section", { class: "panel", hidden: true, "aria-labelledby": "asking-h" },
    h("h2", { id: "asking-h", text: "Asking to connect (OCPP)" }), asking);
  root.append(h("h1", { text: "Devices" }), h("div", { class: "buttons" }, add), panel, st, askingPanel, list);
  let info;
  let meta;

  async function load() {
    const [params, status] = await Promise.all([api("get_params"), api("get_dev_info")]);
    info = params;
    meta = metaOf(info);
    if (!root.isConnected) return;
    list.replaceChildren(...info.devices.map(row));
    const rows = askingRows(status);
    asking.replaceChildren(...rows.map(askingRow));
    askingPanel.hidden = rows.length === 0;
  }

  function askingRow(a) {
    const adopt = h("button", { type: "button", class: "primary", text: "Adopt", "aria-label": "Adopt " + a.id, "data-testid": "ocpp-adopt-" + a.id });
    adopt.addEventListener("click", async () => {
      say(st, "Working…");
      try {
        const { dev_id: devId } = await api("ocpp_adopt", { id: a.id });
        say(st, `${a.id} is wallbox ${devId}: it is let in when it next connects`, "ok");
        await load();
      } catch (e) {
        say(st, e.message, "err");
      }
    });
    return h("li", { class: "row" }, h("div", { class: "what" }, h("strong", { text: a.id }), h("small", { text: a.text })),
      h("div", { class: "buttons" }, adopt));
  }

  async function run(cmd, devId, done) {
    say(st, "Working…");
    try {
      await api(cmd, { dev_id: devId });
      say(st, done, "ok");
      await load();
    } catch (e) {
      say(st, e.message, "err");
    }
  }

  function row(d) {
    const edit = h("button", { type: "button", text: "Edit", "aria-label": "Edit " + d.dev_id });
    const reset = h("button", { type: "button", text: "Reset", "aria-label": "Reset " + d.dev_id });
    const del = h("button", { type: "button", class: "danger", text: "Delete", "aria-label": "Delete " + d.dev_id, "data-testid": "device-delete" });
    const confirm = h("button", { type: "button", class: "danger", text: `Yes, delete ${d.dev_id}`, "data-testid": "device-delete-confirm" });
    const keep = h("button", { type: "button", text: "Keep it" });
    // Asked here in the page: browser dialogs would block automated use.
    const ask = h("span", { class: "confirm", hidden: true }, h("span", { text: `Delete ${d.dev_id} for good? ` }), confirm, keep);
    edit.addEventListener("click", () => openForm(d));
    reset.addEventListener("click", () => run("reset_device", d.dev_id, `${d.dev_id} was reset (stopped and started afresh)`));
    del.addEventListener("click", () => {
      del.hidden = true;
      ask.hidden = false;
      confirm.focus();
    });
    keep.addEventListener("click", () => {
      ask.hidden = true;
      del.hidden = false;
      del.focus();
    });
    confirm.addEventListener("click", () => run("del_device", d.dev_id, `${d.dev_id} deleted`));
    return h("li", { class: "row", "data-testid": "device-row-" + d.dev_id },
      h("div", { class: "what" }, h("strong", { text: d.dev_id }), " ", h("span", { text: d.name || "" }),
        h("small", { text: `${d.desc} · ${d.dev_type}` + (d.address ? " · " + d.address : "") })),
      h("div", { class: "buttons" }, edit, reset, del, ask));
  }

  function openForm(d) {
    if (!info) return;
    const isNew = !d;
    const src = d || DEVICE_DEFAULTS;
    const firstType = d ? d.dev_type : defaultType(meta);
    const typeField = field(["dev_type", "Type", "select", typeOptions(meta)], firstType, "d-");
    const idField = field(["dev_id", "Device id (E<n> for wallboxes and groups, M<n> for meters)", "text"],
      d ? d.dev_id : nextId(meta, info.devices, firstType), "d-");
    idField.input.readOnly = !isNew;
    idField.input.required = true;
    let idTouched = false;
    idField.input.addEventListener("input", () => (idTouched = true));
    const fields = deviceFields(meta).map(([def, when, idPrefix = ""]) => Object.assign(field(def, src[def[0]], "d-" + idPrefix), { when }));
    const show = () => {
      const t = typeField.read();
      for (const f of fields) f.wrap.hidden = !f.when(typeInfo(meta, t));
      if (isNew && !idTouched) idField.input.value = nextId(meta, info.devices, t);
    };
    typeField.input.addEventListener("change", show);
    const cancel = h("button", { type: "button", text: "Cancel" });
    const form = h("form", { class: "form", noValidate: true },
      typeField.wrap, idField.wrap, fields.map((f) => f.wrap),
      h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary", "data-testid": "device-save", text: isNew ? "Add device" : "Save" }), cancel),
    );
    cancel.addEventListener("click", () => {
      panel.hidden = true;
      add.focus();
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const devId = idField.input.value.trim();
      const body = { dev_id: devId };
      try {
        const type = typeField.read();
        if (isNew || type !== d.dev_type) body.dev_type = type;
        Object.assign(body, changes(fields, isNew));
      } catch (err) {
        return say(st, err.message, "err");
      }
      if (Object.keys(body).length === 1) return say(st, "Nothing changed");
      say(st, "Saving…");
      try {
        // set_params changes a device it already has: adding must not.
        // Asked now, not from the list shown, which another client may
        // have changed since.
        if (isNew) {
          const now = await api("get_params");
          if (now.devices.some((x) => x.dev_id.toUpperCase() === devId.toUpperCase())) {
            return say(st, `${devId} already exists: choose another device id, or edit ${devId}`, "err");
          }
        }
        await api("set_params", {}, { devices: [body] });
        panel.hidden = true;
        say(st, `Saved ${devId}`, "ok");
        await load();
      } catch (err) {
        say(st, err.message, "err");
      }
    });
    panel.replaceChildren(h("h2", { id: "dev-form-h", text: isNew ? "Add a device" : "Edit " + d.dev_id }), form);
    panel.hidden = false;
    show();
    say(st, "");
    typeField.input.focus();
  }

  await load();
}
