// The /cnf client. The page logs in with the password once and keeps only
// the session token it gets (for this tab), sent as "Authorization:
// Bearer". The browser never holds basic-auth credentials that pages of
// other sites could ride on.

const TOKEN = "chargebrain.session";
export const token = () => sessionStorage.getItem(TOKEN);
export const forgetToken = () => sessionStorage.removeItem(TOKEN);

// Reads go by GET; everything else by POST with a JSON body, as the daemon
// requires of changes.
const READS = new Set(["get_dev_info", "get_params", "get_dev_types", "get_users", "get_user",
  "get_ta_log", "get_new_user_id", "get_login"]);

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

export async function send(cmd, query, body, tok) {
  const headers = {};
  if (tok != null) headers.Authorization = "Bearer " + tok;
  // credentials "omit": the browser never shows its own password dialog.
  const init = { headers, credentials: "omit", cache: "no-store", signal: AbortSignal.timeout(15000) };
  if (body === undefined && !READS.has(cmd)) body = {};
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    return await fetch("/cnf?" + new URLSearchParams({ cmd, ...query }), init);
  } catch (e) {
    const why = e.name === "TimeoutError" ? "no answer within 15 s" : e.message;
    throw new ApiError("no connection to chargebrain (" + why + ")", 0);
  }
}

// The daemon's errors are JSON strings; anything else is shown as it came.
export async function errorText(res) {
  const text = await res.text();
  try {
    const v = JSON.parse(text);
    if (typeof v === "string") return v;
  } catch {}
  return `HTTP ${res.status} ${text}`.trim();
}

// Who asks for the password when a command needs it (login.js): given the
// daemon's reason, it resolves once a password was accepted.
let askForLogin = (reason) => Promise.reject(new ApiError(reason, 401));
export function onLoginNeeded(ask) {
  askForLogin = ask;
}

// Runs a command. A 401 asks for the password, and the command is sent
// again once one is accepted (unless opts.noLogin). opts.blob: the answer
// as a Blob, not JSON.
export async function api(cmd, query = {}, body, opts = {}) {
  for (;;) {
    const res = await send(cmd, query, body, token());
    if (res.status === 401 && !opts.noLogin) {
      await askForLogin(await errorText(res));
      continue;
    }
    if (!res.ok) throw new ApiError(await errorText(res), res.status);
    return opts.blob ? res.blob() : res.json();
  }
}

// Logs in with `pwd` and keeps the session token; an ApiError if refused.
export async function logIn(pwd) {
  const res = await send("login", {}, { password: pwd }, null);
  if (!res.ok) throw new ApiError(await errorText(res), res.status);
  const { token: t } = await res.json();
  sessionStorage.setItem(TOKEN, t);
}

// Ends the session, here and at the daemon.
export function logOut() {
  const t = token();
  forgetToken();
  if (t) send("logout", {}, {}, t).catch(() => {});
}
