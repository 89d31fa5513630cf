/* chargebrain admin page. Talks to the daemon through /cnf only. ES
 * modules, loaded as they are (no build step): dom.js, api.js, login.js,
 * poll.js, form.js and meta.js (what the daemon's type keys and numbers
 * mean) for the page, views/ for each view, and lib/ for what is pure (no
 * DOM; tested with `node --test web/test/*.test.js`).
 *
 * Test hooks (data-testid="…" unless a name= is given). Keep them stable.
 *   Navigation  nav-dashboard nav-settings nav-devices nav-users nav-rules
 *   Dashboard   site-summary; tile-<dev_id>; inside a tile: state (words),
 *               charging-current (EVSE: offered current, "8.0 A"),
 *               role (meter: its role in words), battery (a meter's
 *               battery, "88 % · charging · …", hidden without one);
 *               history, range-<seconds>; charts chart-site-L1..L3 and
 *               chart-<dev_id> (SVG, data-max-ma/-from/-to; polygons and
 *               polylines with data-series house, cars, limit, drawn,
 *               offered), history-<dev_id> holding the sessions
 *   Settings    input name=max_total_current; params-save; params-status;
 *               cm-vars (the variables list), inputs name=cm_name, cm_value;
 *               cm-var-save; cm-vars-status
 *   Devices     device-new; inputs name=dev_type (select), dev_id, name,
 *               address, id; device-save; devices-status;
 *               device-row-<dev_id> holding device-delete, then device-delete-confirm
 *   Users       user-new; inputs name=user_name, cards (comma-separated);
 *               user-save; users-status; user-row-<id>
 *   Rules       select name=rule_target (values E1, user:<id>); rule-add;
 *               fieldsets rule-<index> with inputs named as the JSON fields;
 *               rules-save; rules-status
 *   Login       login-password login-submit login-status; logout
 *   First start setpw (panel) setpw-new setpw-again setpw-submit setpw-status
 */

import { $, banner, h } from "./dom.js";
import { cancelLogin, firstStart, initLogin } from "./login.js";
import { stopPolling } from "./poll.js";
import { dashboard } from "./views/dashboard.js";
import { devices } from "./views/devices.js";
import { rules } from "./views/rules.js";
import { settings } from "./views/settings.js";
import { users } from "./views/users.js";

// The views by the first part of the location's hash (#/settings).
const views = { "": dashboard, settings, devices, users, rules };

function route(force) {
  const hash = location.hash;
  // An in-page anchor such as the skip link's #main keeps the view shown.
  if (!force && hash && !hash.startsWith("#/") && $(".view")) return;
  const name = hash.slice(2).split("/")[0];
  const view = views[name] ? name : "";
  stopPolling();
  firstStart();
  cancelLogin();
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.testid === "nav-" + (view || "dashboard")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const root = h("div", { class: "view" });
  $("#main").replaceChildren(root);
  // A view checks root.isConnected after each wait: the user may have moved on.
  views[view](root).catch((e) => root.append(h("p", { class: "status err", role: "alert", text: "Could not load: " + e.message })));
}

window.addEventListener("unhandledrejection", (e) => banner("Page error: " + (e.reason?.message || e.reason)));
window.addEventListener("error", (e) => banner("Page error: " + e.message));
window.addEventListener("hashchange", () => route());

initLogin(() => route(true));
route();
