// Devices: the list, and a form to add or edit one. The types, their
// kinds and the roles come from the daemon (get_params's dev_meta, meta).
// Under each wallbox, how it is wired as measured (get_dev_info): a
// configured rotation the measurement contradicts, with a button that
// applies the measured one, and "identify phases" with its progress.

import { h, say, statusEl } from "../dom.js";
import { api } from "../api.js";
import { changes, field } from "../form.js";
import { DEVICE_DEFAULTS, askingRows, defaultType, deviceFields, isWallbox, metaOf, nextId, typeInfo, typeOptions } from "../lib/devices.js";
import { probeText, probing, rotationAdvice, rotationStatus } from "../lib/wiring.js";

// How often the list is read again while "identify phases" runs.
const PROBE_POLL_MS = 2000;

export async function devices(root) {
  const st = statusEl("devices-status");
  const list = h("ul", { class: "rows" });
  const panel = h("section", { class: "panel", hidden: true, "aria-labelledby": "dev-form-h" });
  const add = h("button", { type: "button", class: "primary", "data-testid": "device-new", text: "Add a device" });
  add.addEventListener("click", () => openForm());
  const identifyAll = h("button", { type: "button", "data-testid": "identify-phases", text: "Identify phases" });
  identifyAll.addEventListener("click", () => identify(undefined));
  // OCPP charge points that are not devices yet and asked to connect.
  const asking = h("ul", { class: "rows", "data-testid": "ocpp-asking" });
  const askingPanel = h("section", { class: "panel", hidden: true, "aria-labelledby": "asking-h" },
    h("h2", { id: "asking-h", text: "Asking to connect (OCPP)" }), asking);
  root.append(h("h1", { text: "Devices" }), h("div", { class: "buttons" }, add, identifyAll), panel, st, askingPanel, list);
  let info;
  let meta;
  // get_dev_info's wallboxes by dev_id (their wiring as measured).
  let live = new Map();
  let polling = null;
  let watchUntil = 0;

  async function load() {
    const [params, status] = await Promise.all([api("get_params"), api("get_dev_info")]);
    info = params;
    meta = metaOf(info);
    live = new Map((status.devices || []).map((d) => [d.dev_id, d]));
    if (!root.isConnected) return;
    list.replaceChildren(...info.devices.map(row));
    const rows = askingRows(status);
    asking.replaceChildren(...rows.map(askingRow));
    askingPanel.hidden = rows.length === 0;
    // While "identify phases" runs, and for a few cycles after it was
    // asked (the daemon starts it with its next cycle), its progress is
    // read again.
    clearTimeout(polling);
    if (probing([...live.values()]) || Date.now() < watchUntil) polling = setTimeout(() => root.isConnected && load().catch((e) => say(st, e.message, "err")), PROBE_POLL_MS);
  }

  async function identify(devId) {
    say(st, "Starting identify phases…");
    try {
      const plan = await api("identify_phases", {}, devId ? { dev_id: devId } : {});
      watchUntil = Date.now() + 3 * PROBE_POLL_MS;
      const cycles = plan.longest_cycles ? ` (at most ${plan.longest_cycles} cycles)` : "";
      say(st, "Identify phases started" + cycles + ": progress under each wallbox", "ok");
      await load();
    } catch (e) {
      say(st, e.message, "err");
    }
  }

  async function applyRotation(devId, rotation) {
    say(st, "Saving…");
    try {
      await api("set_params", {}, { devices: [{ dev_id: devId, phase_rotation: rotation }] });
      say(st, `${devId}: phase rotation set to ${rotation}°`, "ok");
      await load();
    } catch (e) {
      say(st, e.message, "err");
    }
  }

  // Under a wallbox: its wiring as measured, and what can be done about it.
  function wiring(d) {
    const now = live.get(d.dev_id);
    if (!now || !isWallbox(meta)(d)) return null;
    const lines = [];
    const status = rotationStatus(now);
    if (status) lines.push(h("small", { "data-testid": "rotation-" + d.dev_id, text: status }));
    const advice = rotationAdvice(now);
    if (advice) {
      const apply = h("button", { type: "button", "data-testid": "rotation-apply-" + d.dev_id, text: `Apply ${advice.apply}°`, "aria-label": `Apply the measured rotation ${advice.apply}° to ${d.dev_id}` });
      apply.addEventListener("click", () => applyRotation(d.dev_id, advice.apply));
      lines.push(h("div", { class: "warn", "data-testid": "rotation-advice-" + d.dev_id }, h("span", { text: advice.text + " — apply? " }), apply));
    }
    const probe = probeText(now);
    if (probe) lines.push(h("small", { "data-testid": "probe-" + d.dev_id, text: probe }));
    return lines.length ? h("div", { class: "wiring" }, lines) : null;
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
    const probe = isWallbox(meta)(d) ? h("button", { type: "button", text: "Identify phases", "aria-label": "Identify the phases of " + d.dev_id, "data-testid": "identify-" + d.dev_id }) : null;
    probe?.addEventListener("click", () => identify(d.dev_id));
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
        h("small", { text: `${d.desc} · ${d.dev_type}` + (d.address ? " · " + d.address : "") }), wiring(d)),
      h("div", { class: "buttons" }, edit, probe, reset, del, ask));
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
