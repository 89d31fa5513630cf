import test from "node:test";
import assert from "node:assert/strict";
import { rightOfCards, userBody } from "../js/lib/users.js";

test("a right shown for all cards: set, unset, or undecided where they differ", () => {
  assert.deepEqual(rightOfCards([], "ac_auth", true), { checked: true, undecided: false });
  assert.deepEqual(rightOfCards([{ ac_ovch: true }, { ac_ovch: true }], "ac_ovch", false), { checked: true, undecided: false });
  assert.deepEqual(rightOfCards([{ ac_ovch: true }, { ac_ovch: false }], "ac_ovch", false), { checked: false, undecided: true });
});

test("a new user: the cards get the rights as set", () => {
  const body = userBody(undefined, { name: " Anna ", display: true, devIds: ["E1"], cards: "04AABBCC, 1234", rights: { ac_auth: true, ac_ovch: false } });
  assert.deepEqual(body, {
    name: "Anna", display: true, dev_ids: ["E1"],
    rfids: [{ id: "04AABBCC", ac_auth: true, ac_ovch: false }, { id: "1234", ac_auth: true, ac_ovch: false }],
  });
});

test("an edited user keeps what the form does not show, and each card its own undecided rights", () => {
  const anna = {
    id: "U3f09", name: "Anna", charging_rules: [{ mode: 0 }],
    rfids: [{ id: "04AABBCC", ac_auth: true, ac_ovch: true, extra: 1 }, { id: "1234", ac_auth: true, ac_ovch: false }],
  };
  const body = userBody(anna, { name: "Anna", display: false, devIds: [], cards: "04aabbcc 1234 9999", rights: { ac_auth: false, ac_ovch: null } });
  assert.equal(body.id, "U3f09");
  assert.deepEqual(body.charging_rules, [{ mode: 0 }]);
  assert.deepEqual(body.rfids, [
    { id: "04aabbcc", ac_auth: false, ac_ovch: true, extra: 1 },
    { id: "1234", ac_auth: false, ac_ovch: false },
    { id: "9999", ac_auth: false, ac_ovch: false },
  ]);
});
