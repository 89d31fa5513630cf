// A user as the form shows it and as set_user takes it. Pure: no DOM.

import { cardIds } from "./parse.js";

// What a card may do: [key of each rfids entry, words, for a new card].
export const RIGHTS = [
  ["ac_auth", "A card or PIN starts charging", true],
  ["ac_ovch", "Presenting it again stops charging", false],
];

// One right as the form shows it for all the user's cards: checked if
// every card has it (without cards: as a new card has it), and undecided
// where the cards differ, so that each keeps its own until it is clicked.
export function rightOfCards(rfids, key, dflt) {
  const vals = rfids.map((r) => r[key]);
  return {
    checked: vals.length ? vals.every(Boolean) : dflt,
    undecided: vals.length > 0 && !vals.every((x) => x === vals[0]),
  };
}

// set_user's body: the user as loaded (u, or nothing for a new one) with
// the form's name, display, wallboxes and cards (text, see cardIds). A
// card keeps what it had (matched by id, whatever the case); a right set
// (true/false) applies to every card, one undecided (null) leaves each
// card's own, or the right's default for a new card.
export function userBody(u, form) {
  const old = new Map((u?.rfids || []).map((r) => [r.id.toLowerCase(), r]));
  return {
    ...(u || {}),
    name: form.name.trim(),
    display: form.display,
    dev_ids: form.devIds,
    rfids: cardIds(form.cards).map((id) => {
      const card = { ...(old.get(id.toLowerCase()) || {}), id };
      for (const [key, , dflt] of RIGHTS) {
        const set = form.rights[key];
        card[key] = set == null ? card[key] ?? dflt : set;
      }
      return card;
    }),
  };
}
