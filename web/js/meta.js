// What the daemon's type keys and numbers mean (see metaOf() in
// lib/devices.js), asked once per page load: it changes only with the
// binary, and a new binary's page is loaded afresh (index.html).

import { api } from "./api.js";
import { metaOf } from "./lib/devices.js";

let asked = null;

export function daemonMeta() {
  asked ??= api("get_params").then(metaOf, (e) => {
    asked = null;
    throw e;
  });
  return asked;
}
