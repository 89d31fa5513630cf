// Logging in and out, and the first start's "set an admin password".

import { $, announce, say } from "./dom.js";
import { api, ApiError, forgetToken, logIn, logOut, onLoginNeeded, token } from "./api.js";

// Commands waiting for a password: { resolve, reject }.
const waiting = [];

// Opens the login form (saying why if a session ended); resolves once a
// password is accepted, rejects if the form is cancelled.
function need(reason) {
  if (token() != null) {
    forgetToken();
    showLogout();
    $("#login-why").textContent = "The session has ended (" + reason + "). Log in again.";
  }
  const panel = $("#login");
  if (panel.hidden) {
    panel.hidden = false;
    say($("#login-status"), "");
    $("#login-password").focus();
  }
  return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
}

function finish(ok) {
  $("#login").hidden = true;
  $("#login-why").textContent = "This needs the admin password (user name admin).";
  for (const w of waiting.splice(0))
    ok ? w.resolve() : w.reject(new ApiError("not logged in: this needs the admin password", 401));
}

// A login asked for by a view the user has left is no longer wanted.
export function cancelLogin() {
  if (!$("#login").hidden) finish(false);
}

export function showLogout() {
  $("#logout").hidden = token() == null;
}

// Logs in with `pwd` (an ApiError if refused) and shows "Log out".
export async function logInWith(pwd) {
  await logIn(pwd);
  showLogout();
}

// On a fresh install nothing asks for a password: the page asks the user to
// set one before anything else.
export async function firstStart() {
  const panel = $("#setpw");
  try {
    const status = await api("get_login");
    panel.hidden = status.password_set;
  } catch {
    panel.hidden = true;
  }
}

// Wires the login, logout and first-start forms; onLogout(): what to show
// after logging out.
export function initLogin(onLogout) {
  onLoginNeeded(need);
  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("#login-password");
    const st = $("#login-status");
    say(st, "Checking…");
    try {
      await logInWith(input.value);
      input.value = "";
      announce("Logged in");
      finish(true);
    } catch (err) {
      say(st, err.status === 401 ? "Wrong password" : err.message, "err");
      input.select();
    }
  });
  $("#login-cancel").addEventListener("click", () => finish(false));
  $("#logout").addEventListener("click", () => {
    logOut();
    showLogout();
    announce("Logged out");
    onLogout();
  });
  $("#setpw-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const st = $("#setpw-status");
    const [n, a] = ["#setpw-new", "#setpw-again"].map((s) => $(s).value);
    if (!n) return say(st, "Choose a password", "err");
    if (n !== a) return say(st, "The two passwords differ", "err");
    say(st, "Setting…");
    try {
      await api("change_admin_pwd", {}, { old_pwd: "", new_pwd: n }, { noLogin: true });
      await logInWith(n);
      $("#setpw-form").reset();
      say(st, "");
      $("#setpw").hidden = true;
      announce("Admin password set");
    } catch (err) {
      say(st, err.message, "err");
    }
  });
  showLogout();
}
