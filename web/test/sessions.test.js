import test from "node:test";
import assert from "node:assert/strict";
import { lastSessions } from "../js/lib/sessions.js";

test("a wallbox's last sessions from the charging log, newest first", () => {
  const csv = "dev_id,user,rfid,start,end,energy_wh\n" +
    "E1,U1,04AA,1000,2000,5000\nE2,,,1100,2100,300\nE1,,,3000,4000,7250\n";
  assert.deepEqual(lastSessions(csv, "E1"), [
    { user: "", start: 3000, end: 4000, wh: 7250 },
    { user: "U1", start: 1000, end: 2000, wh: 5000 },
  ]);
  assert.deepEqual(lastSessions(csv, "E3"), []);
  assert.deepEqual(lastSessions("", "E1"), []);
  const many = "dev_id,user,rfid,start,end,energy_wh\n" + Array.from({ length: 15 }, (_, i) => `E1,,,${i},${i + 1},1`).join("\n");
  assert.deepEqual(lastSessions(many, "E1").map((s) => s.start), [14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);
});
