import test from "node:test";
import assert from "node:assert/strict";
import { cardIds, changedValues, fieldValue, milliamps } from "../js/lib/parse.js";

test("a number field gives a number; anything else is an error naming the field", () => {
  assert.equal(fieldValue("number", " 16000 ", "Max"), 16000);
  assert.equal(fieldValue("number", "0.5", "Max"), 0.5);
  assert.equal(fieldValue("number", "", "Max"), undefined);
  assert.throws(() => fieldValue("number", "16 A", "Max"), { message: 'Max: "16 A" is not a number' });
  assert.throws(() => fieldValue("number", "Infinity", "Max"), /not a number/);
});

test("an optional number is cleared by emptying it", () => {
  assert.equal(fieldValue("optional", "", "Price level"), null);
  assert.equal(fieldValue("optional", "-5", "Price level"), -5);
});

test("a formula field sends a number as a number and a formula as text", () => {
  assert.equal(fieldValue("formula", "25000", "Limit"), 25000);
  assert.equal(fieldValue("formula", "-1.5e3", "Limit"), -1500);
  assert.equal(fieldValue("formula", "20000 - M1.current", "Limit"), "20000 - M1.current");
  assert.equal(fieldValue("formula", " CM.limit ", "Limit"), "CM.limit");
  assert.equal(fieldValue("formula", "", "Limit"), undefined);
});

test("a text field keeps what was typed", () => {
  assert.equal(fieldValue("text", "  Garage ", "Name"), "  Garage ");
  assert.equal(fieldValue("text", "", "Name"), "");
});

test("only what changed is sent; emptying a field that had a value is an error", () => {
  const f = (key, orig, value) => ({ key, label: key, orig, read: () => value });
  assert.deepEqual(changedValues([f("a", 1, 1), f("b", 1, 2), f("c", undefined, undefined), f("d", "x", "y")]), { b: 2, d: "y" });
  assert.deepEqual(changedValues([f("a", 1, 1), f("c", undefined, undefined)], true), { a: 1 }, "all: every field with a value");
  assert.deepEqual(changedValues([f("p", null, null), f("q", -5, null)]), { q: null }, "an optional number cleared");
  assert.throws(() => changedValues([f("max", 16000, undefined)]), { message: "max: needs a value" });
});

test("a current typed in amperes becomes mA", () => {
  assert.equal(milliamps("8"), 8000);
  assert.equal(milliamps("7.55"), 7550);
  assert.equal(milliamps("0"), 0);
  for (const bad of ["", "-1", "abc"]) assert.equal(milliamps(bad), null, bad);
});

test("cards are split at commas, semicolons and spaces", () => {
  assert.deepEqual(cardIds("04AABBCC, 1234;ff00  9"), ["04AABBCC", "1234", "ff00", "9"]);
  assert.deepEqual(cardIds(" , "), []);
});
