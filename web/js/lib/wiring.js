// A wallbox's wiring as get_dev_info reports it, in words, and what the
// page offers about it. Pure: no DOM.
//
// get_dev_info gives per wallbox: phase_rotation (0, 120, 240 or "auto"),
// phase_rotation_detected (null until a car has drawn),
// phase_rotation_confidence (0 to 1), phase_rotation_state (not_drawn,
// learning, all_three_phases, confident), phase_rotation_used and
// phase_probe (what "identify phases" did with it; "" if never asked).

// A share 0..1 as whole percent, never more than measured (as the daemon's
// own warning says it).
const percent = (p) => `${Math.floor((Number(p) || 0) * 100)} %`;

// A configured rotation that a confident measurement contradicts: the text
// to show and the rotation to apply, else null (also on "auto", which
// takes up the measured rotation by itself).
export function rotationAdvice(d) {
  const configured = d.phase_rotation;
  const measured = d.phase_rotation_detected;
  if (d.phase_rotation_state !== "confident" || typeof configured !== "number" || typeof measured !== "number" || configured === measured) return null;
  return {
    text: `configured ${configured}°, measured ${measured}° (confidence ${percent(d.phase_rotation_confidence)})`,
    apply: measured,
  };
}

// How far the measurement has got, in words ("" for a wallbox the daemon
// says nothing of).
export function rotationStatus(d) {
  const measured = d.phase_rotation_detected;
  const used = (d.phase_rotation_used || []).map((r) => r + "°").join(", ");
  const counted = used ? `; counted on ${used}` : "";
  const setting = d.phase_rotation === "auto" ? "auto" : typeof d.phase_rotation === "number" ? `${d.phase_rotation}°` : "";
  if (!setting) return "";
  switch (d.phase_rotation_state) {
    case "confident":
      return `Rotation ${setting}: measured ${measured}° (confidence ${percent(d.phase_rotation_confidence)})${counted}`;
    case "learning":
      return `Rotation ${setting}: learning` + (measured == null ? "" : ` (most likely ${measured}°, ${percent(d.phase_rotation_confidence)})`) + counted;
    case "all_three_phases":
      return `Rotation ${setting}: the car draws on all three phases alike, the rotation cannot be told${counted}`;
    default:
      return `Rotation ${setting}: not measured yet (no car has drawn here)${counted}`;
  }
}

const PROBE_WORDS = {
  waiting: "waiting to be stepped",
  stepping: "being stepped (its current lowered and raised again)",
  found: "done: rotation found",
  already_known: "not needed: the rotation is known",
  not_charging: "not stepped: no car is charging",
  no_room: "not stepped: the car is at its minimum",
  all_three_phases: "done: the car draws on all three phases alike",
  unsure: "done, but not sure: try again while the house load is steady",
};

// What "identify phases" is doing with this wallbox, in words; "" if it
// was never asked.
export const probeText = (d) => (d.phase_probe ? "Identify phases: " + (PROBE_WORDS[d.phase_probe] || d.phase_probe) : "");

// Whether "identify phases" is still under way for any of these wallboxes.
export const probing = (devices) => devices.some((d) => d.phase_probe === "waiting" || d.phase_probe === "stepping");

// The wallboxes whose configured rotation a confident measurement
// contradicts (the daemon's phase_rotation_warning), for the dashboard: per
// wallbox its dev_id and the line to show (by its name and dev_id). Load
// management protects every phase the car may be on meanwhile; the line
// says so.
export function wiringWarnings(devices) {
  return (devices || [])
    .filter((d) => typeof d.phase_rotation_warning === "string" && d.phase_rotation_warning !== "")
    .map((d) => ({
      dev_id: d.dev_id,
      text: `${d.name ? `${d.name} (${d.dev_id})` : d.dev_id}: phase rotation ${d.phase_rotation_warning}; both rotations are protected until the setting is corrected`,
    }));
}
