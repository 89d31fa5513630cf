// A wallbox's finished charging sessions from the charging log
// (get_ta_log's CSV: dev_id,user,rfid,start,end,energy_wh). Pure: no DOM.

// The last `count` sessions of devId, newest first, as { user, start, end,
// wh } (times in unix seconds, energy in Wh).
export function lastSessions(csv, devId, count = 10) {
  return csv.trim().split("\n").slice(1).map((line) => line.split(","))
    .filter((r) => r[0] === devId).slice(-count).reverse()
    .map(([, user, , start, end, wh]) => ({ user, start: +start, end: +end, wh: +wh }));
}
