//! What the site and each wallbox did, for the dashboard's charts: the
//! site's current, house load and limit per phase, and each wallbox's
//! offered and drawn current and power. Kept at the cycle's resolution for
//! the last hour and as one-minute means for 48 hours, in memory, bounded;
//! saved at shutdown and loaded at start. Pure.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Cycle samples are kept this long (ms)…
pub const FINE_MS: i64 = 3_600_000;
/// …but at most this many (an hour of 0.5 s cycles): faster cycles keep
/// less than an hour.
pub const MAX_FINE: usize = 7_200;
/// Minute means are kept this long (ms).
pub const COARSE_MS: i64 = 48 * 3_600_000;
const MINUTE_MS: i64 = 60_000;
/// At most this many minute means (48 hours, and a little slack).
const MAX_COARSE: usize = 48 * 60 + 2;
/// The format of the saved file.
const FILE_VERSION: u32 = 1;

/// The site in one sample, mA per building phase. Saved as seven numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "[i32; 7]", into = "[i32; 7]")]
pub struct SiteValues {
    /// What the site draws: the house and the cars.
    pub current: [i32; 3],
    pub house: [i32; 3],
    /// The site limit (`max_total_current` as evaluated).
    pub limit: i32,
}

/// One wallbox in one sample. Saved as three numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "[i32; 3]", into = "[i32; 3]")]
pub struct EvseValues {
    /// What load management offers it, mA.
    pub offered: i32,
    /// What it draws on its most loaded phase, mA.
    pub drawn: i32,
    /// Its charging power, W.
    pub power: i32,
}

/// One point in time: unix ms, the site, and the wallboxes by their index
/// in `History::wallboxes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Sample(i64, SiteValues, Box<[(u16, EvseValues)]>);

/// Sums over the current minute, for its mean.
#[derive(Debug, Clone, Default)]
struct Minute {
    /// Which minute (unix ms / 60 000).
    index: i64,
    count: i64,
    site: [i64; 7],
    /// Per wallbox index: sums of offered, drawn, power, and the count.
    evses: BTreeMap<u16, [i64; 4]>,
}

/// The history: samples at the cycle's resolution and minute means.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    version: u32,
    /// The wallboxes' dev_ids; samples refer to them by index.
    wallboxes: Vec<String>,
    /// Each dev_id's index in `wallboxes` (built when they differ in
    /// length: a site may have thousands of wallboxes, each cycle).
    #[serde(skip)]
    index: HashMap<String, u16>,
    fine: VecDeque<Sample>,
    coarse: VecDeque<Sample>,
    #[serde(skip)]
    minute: Minute,
}

/// An answer to a query: columns of equal length, one entry per point in
/// time. A wallbox missing at a point (added later, deleted since) is `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Series {
    /// Unix ms of the first point; `null` when there is none.
    pub t0: Option<i64>,
    /// ms from the point before (the first is 0).
    pub dt: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteSeries>,
    pub evses: BTreeMap<String, EvseSeries>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SiteSeries {
    pub current_l1: Vec<i32>,
    pub current_l2: Vec<i32>,
    pub current_l3: Vec<i32>,
    pub house_l1: Vec<i32>,
    pub house_l2: Vec<i32>,
    pub house_l3: Vec<i32>,
    pub limit: Vec<i32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvseSeries {
    pub offered: Vec<Option<i32>>,
    pub drawn: Vec<Option<i32>>,
    pub power: Vec<Option<i32>>,
}

/// What a query asks for: unix ms from and to (inclusive), one wallbox or
/// everything, and a step in ms to average over (0: as kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub from_ms: i64,
    pub to_ms: i64,
    pub dev_id: Option<String>,
    pub step_ms: i64,
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

impl History {
    pub fn new() -> Self {
        History {
            version: FILE_VERSION,
            ..History::default()
        }
    }

    /// Notes one cycle at unix ms `t`. Samples must come in time order; an
    /// older one (the clock was set back) starts the history afresh.
    pub fn record<'a>(
        &mut self,
        t: i64,
        site: SiteValues,
        evses: impl IntoIterator<Item = (&'a str, EvseValues)>,
    ) {
        if self.fine.back().is_some_and(|last| t < last.0) {
            *self = History::new();
        }
        let evses: Box<[(u16, EvseValues)]> = evses
            .into_iter()
            .filter_map(|(dev_id, values)| Some((self.index_of(dev_id)?, values)))
            .collect();
        self.add_to_minute(t, &site, &evses);
        self.fine.push_back(Sample(t, site, evses));
        while self.fine.len() > MAX_FINE || self.fine.front().is_some_and(|s| s.0 < t - FINE_MS) {
            self.fine.pop_front();
        }
        while self.coarse.len() > MAX_COARSE
            || self.coarse.front().is_some_and(|s| s.0 < t - COARSE_MS)
        {
            self.coarse.pop_front();
        }
    }

    /// The index of a wallbox's dev_id, added if new.
    fn index_of(&mut self, dev_id: &str) -> Option<u16> {
        if self.index.len() != self.wallboxes.len() {
            self.index = (0..)
                .zip(&self.wallboxes)
                .map(|(i, w)| (w.clone(), i))
                .collect();
        }
        if let Some(&i) = self.index.get(dev_id) {
            return Some(i);
        }
        let i = u16::try_from(self.wallboxes.len()).ok()?;
        self.wallboxes.push(dev_id.to_string());
        self.index.insert(dev_id.to_string(), i);
        Some(i)
    }

    /// Adds a sample to the current minute's sums; a new minute first ends
    /// the last one as a mean in `coarse`.
    fn add_to_minute(&mut self, t: i64, site: &SiteValues, evses: &[(u16, EvseValues)]) {
        let index = t.div_euclid(MINUTE_MS);
        if index != self.minute.index {
            if let Some(mean) = self.minute_mean() {
                self.coarse.push_back(mean);
            }
            self.minute = Minute {
                index,
                ..Minute::default()
            };
        }
        let m = &mut self.minute;
        m.count += 1;
        let values = site_array(site);
        for (sum, v) in m.site.iter_mut().zip(values) {
            *sum += i64::from(v);
        }
        for (i, e) in evses {
            let sums = m.evses.entry(*i).or_default();
            sums[0] += i64::from(e.offered);
            sums[1] += i64::from(e.drawn);
            sums[2] += i64::from(e.power);
            sums[3] += 1;
        }
    }

    /// The current minute as a mean, if it has samples.
    fn minute_mean(&self) -> Option<Sample> {
        let m = &self.minute;
        if m.count == 0 {
            return None;
        }
        let mean = |sum: i64, n: i64| clamp_i32(sum / n.max(1));
        let site = site_from(m.site.map(|s| mean(s, m.count)));
        let evses = m
            .evses
            .iter()
            .map(|(i, s)| {
                (
                    *i,
                    EvseValues {
                        offered: mean(s[0], s[3]),
                        drawn: mean(s[1], s[3]),
                        power: mean(s[2], s[3]),
                    },
                )
            })
            .collect();
        Some(Sample(m.index * MINUTE_MS, site, evses))
    }

    /// The points of `query`: minute means where the cycle samples no
    /// longer reach, cycle samples after that; averaged per `step_ms` if
    /// given.
    pub fn query(&self, query: &Query) -> Series {
        let fine_from = self.fine.front().map_or(i64::MAX, |s| s.0);
        let in_range = |s: &&Sample| s.0 >= query.from_ms && s.0 <= query.to_ms;
        let points: Vec<&Sample> = self
            .coarse
            .iter()
            .filter(|s| s.0 + MINUTE_MS <= fine_from)
            .filter(in_range)
            .chain(self.fine.iter().filter(in_range))
            .collect();
        let wanted: Vec<(u16, &str)> = self
            .wallboxes
            .iter()
            .enumerate()
            .filter(|(_, w)| {
                query
                    .dev_id
                    .as_deref()
                    .is_none_or(|d| d.eq_ignore_ascii_case(w))
            })
            .filter_map(|(i, w)| Some((u16::try_from(i).ok()?, w.as_str())))
            .filter(|(i, _)| points.iter().any(|p| p.2.iter().any(|(j, _)| j == i)))
            .collect();
        let buckets = bucket(&points, query.step_ms);
        let mut out = Series {
            t0: buckets.first().map(|b| b.0),
            site: query.dev_id.is_none().then(SiteSeries::default),
            ..Series::default()
        };
        let mut last = buckets.first().map_or(0, |b| b.0);
        for (t, group) in &buckets {
            out.dt.push(t - last);
            last = *t;
            if let Some(site) = out.site.as_mut() {
                let mut sums = [0i64; 7];
                for s in group {
                    for (sum, v) in sums.iter_mut().zip(site_array(&s.1)) {
                        *sum += i64::from(v);
                    }
                }
                let n = i64::try_from(group.len()).unwrap_or(1).max(1);
                let v = sums.map(|s| clamp_i32(s / n));
                site.current_l1.push(v[0]);
                site.current_l2.push(v[1]);
                site.current_l3.push(v[2]);
                site.house_l1.push(v[3]);
                site.house_l2.push(v[4]);
                site.house_l3.push(v[5]);
                site.limit.push(v[6]);
            }
            for (i, dev_id) in &wanted {
                let values: Vec<EvseValues> = group
                    .iter()
                    .filter_map(|s| s.2.iter().find(|(j, _)| j == i).map(|(_, v)| *v))
                    .collect();
                let series = out.evses.entry((*dev_id).to_string()).or_default();
                let n = i64::try_from(values.len()).unwrap_or(0);
                let mean = |f: fn(&EvseValues) -> i32| {
                    (n > 0)
                        .then(|| clamp_i32(values.iter().map(|v| i64::from(f(v))).sum::<i64>() / n))
                };
                series.offered.push(mean(|v| v.offered));
                series.drawn.push(mean(|v| v.drawn));
                series.power.push(mean(|v| v.power));
            }
        }
        out
    }

    /// Whether a wallbox has points in the history.
    pub fn knows(&self, dev_id: &str) -> bool {
        self.wallboxes
            .iter()
            .any(|w| w.eq_ignore_ascii_case(dev_id))
    }

    /// The history as it is saved, with the minute so far ended.
    pub fn to_saved(&self) -> History {
        let mut saved = self.clone();
        if let Some(mean) = saved.minute_mean() {
            saved.coarse.push_back(mean);
        }
        saved.minute = Minute::default();
        saved
    }

    /// A saved history, checked: samples in time order and not from the
    /// future (`now` unix ms), none older than they are kept, indices of
    /// known wallboxes. What does not fit is dropped.
    pub fn from_saved(mut saved: History, now: i64) -> Result<History, String> {
        if saved.version != FILE_VERSION {
            return Err(format!(
                "format version {} is not {FILE_VERSION}",
                saved.version
            ));
        }
        let known = saved.wallboxes.len();
        let sane = |s: &Sample| s.2.iter().all(|(i, _)| usize::from(*i) < known) && s.0 <= now;
        let in_order = |samples: &VecDeque<Sample>| {
            samples
                .iter()
                .zip(samples.iter().skip(1))
                .all(|(a, b)| a.0 <= b.0)
        };
        if !in_order(&saved.fine) || !in_order(&saved.coarse) {
            return Err("samples out of time order".into());
        }
        saved.fine.retain(|s| sane(s) && s.0 >= now - FINE_MS);
        saved.coarse.retain(|s| sane(s) && s.0 >= now - COARSE_MS);
        while saved.fine.len() > MAX_FINE {
            saved.fine.pop_front();
        }
        while saved.coarse.len() > MAX_COARSE {
            saved.coarse.pop_front();
        }
        // The next minute mean starts after the last one saved.
        saved.minute = Minute {
            index: saved.coarse.back().map_or(0, |s| s.0.div_euclid(MINUTE_MS)),
            ..Minute::default()
        };
        Ok(saved)
    }

    /// Bytes the history holds in memory (its own buffers, not the
    /// allocator's overhead): for the benchmark.
    pub fn memory_bytes(&self) -> usize {
        let sample = std::mem::size_of::<Sample>();
        let evse = std::mem::size_of::<(u16, EvseValues)>();
        let buffers = (self.fine.capacity() + self.coarse.capacity()) * sample;
        let evses: usize = self
            .fine
            .iter()
            .chain(self.coarse.iter())
            .map(|s| s.2.len() * evse)
            .sum();
        let names: usize = self.wallboxes.iter().map(String::capacity).sum();
        std::mem::size_of::<History>() + buffers + evses + names
    }
}

impl From<SiteValues> for [i32; 7] {
    fn from(s: SiteValues) -> Self {
        site_array(&s)
    }
}

impl From<[i32; 7]> for SiteValues {
    fn from(v: [i32; 7]) -> Self {
        site_from(v)
    }
}

impl From<EvseValues> for [i32; 3] {
    fn from(e: EvseValues) -> Self {
        [e.offered, e.drawn, e.power]
    }
}

impl From<[i32; 3]> for EvseValues {
    fn from([offered, drawn, power]: [i32; 3]) -> Self {
        EvseValues {
            offered,
            drawn,
            power,
        }
    }
}

fn site_array(s: &SiteValues) -> [i32; 7] {
    [
        s.current[0],
        s.current[1],
        s.current[2],
        s.house[0],
        s.house[1],
        s.house[2],
        s.limit,
    ]
}

fn site_from(v: [i32; 7]) -> SiteValues {
    SiteValues {
        current: [v[0], v[1], v[2]],
        house: [v[3], v[4], v[5]],
        limit: v[6],
    }
}

/// Groups time-ordered points by `step_ms` (each its own group if 0), each
/// group at the start of its step.
fn bucket<'a>(points: &[&'a Sample], step_ms: i64) -> Vec<(i64, Vec<&'a Sample>)> {
    let mut out: Vec<(i64, Vec<&Sample>)> = Vec::new();
    for p in points {
        let t = if step_ms > 0 {
            p.0.div_euclid(step_ms) * step_ms
        } else {
            p.0
        };
        match out.last_mut() {
            Some((last, group)) if *last == t && step_ms > 0 => group.push(p),
            _ => out.push((t, vec![p])),
        }
    }
    out
}

#[cfg(test)]
mod tests;
