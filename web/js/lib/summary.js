// The dashboard's site summary as numbers and sentences, from get_dev_info's
// params. Pure: no DOM; views/dashboard.js draws it.

import { amps, kw, num } from "./format.js";

// The nominal voltage (params.voltage, else 230 V).
export const voltsOf = (p) => (num(p.voltage) && p.voltage > 0 ? p.voltage : 230);

// The site limit per phase this cycle, mA. A formula limit's value is only
// given as max_total_power (three phases at the nominal voltage).
export function limitOf(p) {
  if (num(p.max_total_current)) return p.max_total_current;
  return Math.round((p.max_total_power * 1000) / (3 * voltsOf(p)));
}

// What one car could get of what all cars may draw per phase
// (available_current): a one-phase car on the freest phase, a three-phase
// car on all three. Currents in mA, power in W, phase 1 to 3.
export function carRoom(p) {
  const avail = [0, 1, 2].map((i) => Math.max(p.available_current?.[i] ?? 0, 0));
  const one = Math.max(...avail);
  const three = Math.min(...avail);
  const volts = voltsOf(p);
  return { avail, one, onePhase: avail.indexOf(one) + 1, oneW: (one * volts) / 1000, three, threeW: (three * 3 * volts) / 1000 };
}

// The summary: the limit, each phase's house load and cars as a share of
// the bar's scale (percent, for widths), and the facts in sentences.
export function siteSummary(p) {
  const formula = !num(p.max_total_current);
  const limit = limitOf(p);
  const loads = [0, 1, 2].map((i) => [p.house_current?.[i] ?? 0, p.evse_current?.[i] ?? 0]);
  const scale = Math.max(limit, ...loads.map(([a, b]) => Math.max(a, 0) + Math.max(b, 0)), 1) * 1.05;
  const pct = (ma) => (Math.max(ma, 0) / scale) * 100;
  const phases = loads.map(([house, cars], i) => {
    const over = house + cars > limit;
    return {
      name: "L" + (i + 1),
      over,
      house: pct(house),
      cars: pct(cars),
      text: `house ${amps(house)} + cars ${amps(cars)} = ${amps(house + cars)} of ${amps(limit)}` + (over ? " (over the limit)" : ""),
    };
  });
  const room = carRoom(p);
  const facts = [
    `Limit per phase: ${amps(limit)}` + (formula ? ` (formula: ${p.max_total_current})` : ""),
    `Cars draw ${kw(p.cons_evse_power)}. All cars together may draw ${room.avail.map(amps).join(" / ")} on L1 / L2 / L3: ` +
      `a one-phase car up to ${amps(room.one)} (${kw(room.oneW)}, on L${room.onePhase}), ` +
      `a three-phase car up to ${amps(room.three)} per phase (${kw(room.threeW)}).`,
  ];
  if (p.reserve_current > 0) facts.push(`Reserve kept free: ${amps(p.reserve_current)}`);
  if (p.overdraft_cur > 0) facts.push(`Overdraw seen: ${amps(p.overdraft_cur)} (subtracted for 5 minutes)`);
  if (!p.lb_enabled) facts.push("Observation mode: load management measures and reports but controls nothing.");
  if (p.meter_stale) facts.push("A site meter does not answer: every car gets its minimum current.");
  if (p.grid_dimming?.active) {
    facts.push(`§14a: the grid operator dims (${p.grid_dimming.source}) since ${new Date(p.grid_dimming.since * 1000).toLocaleTimeString()}: all wallboxes together get ${kw(p.grid_dimming.limit_w)}.`);
  }
  return { limit: pct(limit), phases, facts };
}
