//! How a scenario's result is printed: a table with our figure, each
//! baseline beside it with the ratio, the target if the scenario has one,
//! then exactly one JSON line for machines:
//!
//! ```text
//! {"scenario": ..., "value": ..., "unit": ..., "baselines": {"<name>": ...}, "ratios": {"<name>": ...}, <extras>}
//! ```
//!
//! The ratio is always ours over the baseline's; whether higher is better
//! (rates) or lower (memory) is said in the table.

use std::fmt::Write;

/// One scenario's outcome.
pub(crate) struct Report {
    scenario: &'static str,
    unit: &'static str,
    value: f64,
    higher_is_better: bool,
    baselines: Vec<(String, f64)>,
    /// Figures printed in the table and added to the JSON line as fields
    /// (latency quantiles, counts).
    extras: Vec<(&'static str, f64)>,
    /// Table-only lines: secondary measurements with their own units.
    rows: Vec<(String, f64, &'static str)>,
    target: Option<Target>,
    notes: Vec<String>,
}

/// What the issue asks of a scenario.
pub(crate) enum Target {
    /// Our value over the named baseline's, at least this (rates) or at
    /// most this (memory), per the report's direction.
    Ratio(&'static str, f64),
    /// Our value itself, at most this (memory).
    AtMost(f64),
}

impl Report {
    pub(crate) fn new(
        scenario: &'static str,
        unit: &'static str,
        value: f64,
        higher_is_better: bool,
    ) -> Self {
        Report {
            scenario,
            unit,
            value,
            higher_is_better,
            baselines: Vec::new(),
            extras: Vec::new(),
            rows: Vec::new(),
            target: None,
            notes: Vec::new(),
        }
    }

    pub(crate) fn baseline(mut self, name: impl Into<String>, value: f64) -> Self {
        self.baselines.push((name.into(), value));
        self
    }

    /// A figure for the table and, under `key`, the JSON line.
    pub(crate) fn extra(mut self, key: &'static str, value: f64) -> Self {
        self.extras.push((key, value));
        self
    }

    /// A secondary measurement, for the table only.
    pub(crate) fn row(mut self, label: impl Into<String>, value: f64, unit: &'static str) -> Self {
        self.rows.push((label.into(), value, unit));
        self
    }

    pub(crate) fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub(crate) fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    /// The human table, ending with the JSON line.
    pub(crate) fn render(&self) -> String {
        let direction = if self.higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        };
        let mut t = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(t, "== {} == {}", self.scenario, machine());
        let _ = writeln!(t, "{:<48} {:>14}  {}", "rusm", fmt(self.value), self.unit);
        for (name, v) in &self.baselines {
            let _ = writeln!(
                t,
                "{:<48} {:>14}  {}   rusm/baseline {}",
                format!("baseline: {name}"),
                fmt(*v),
                self.unit,
                fmt_ratio(ratio(self.value, *v)),
            );
        }
        let _ = writeln!(t, "({direction})");
        for (key, v) in &self.extras {
            let _ = writeln!(t, "{:<48} {:>14}", key, fmt(*v));
        }
        for (label, v, unit) in &self.rows {
            let _ = writeln!(t, "{:<48} {:>14}  {unit}", label, fmt(*v));
        }
        if let Some(line) = self.target_line() {
            let _ = writeln!(t, "{line}");
        }
        for n in &self.notes {
            let _ = writeln!(t, "note: {n}");
        }
        let _ = writeln!(t, "{}", self.json());
        t
    }

    pub(crate) fn print(&self) {
        print!("{}", self.render());
    }

    fn target_line(&self) -> Option<String> {
        let (wanted, got, met) = match self.target.as_ref()? {
            Target::Ratio(name, want) => {
                let Some((_, base)) = self.baselines.iter().find(|(n, _)| n == name) else {
                    return Some(format!(
                        "target: rusm/{name} {} {want}x: not checked, no {name} figure in this run",
                        if self.higher_is_better { ">=" } else { "<=" },
                    ));
                };
                let r = ratio(self.value, *base);
                let met = if self.higher_is_better {
                    r >= *want
                } else {
                    r <= *want
                };
                let op = if self.higher_is_better { ">=" } else { "<=" };
                (
                    format!("rusm/{name} {op} {want:.2}x"),
                    format!("{r:.2}x"),
                    met,
                )
            }
            Target::AtMost(max) => (
                format!("<= {} {}", fmt(*max), self.unit),
                format!("{} {}", fmt(self.value), self.unit),
                self.value <= *max,
            ),
        };
        let verdict = if met { "met" } else { "MISSED" };
        Some(format!("target: {wanted}: {verdict} ({got})"))
    }

    /// The JSON line, keys in the contract's order (serde_json's own maps
    /// would sort them).
    fn json(&self) -> String {
        let map = |pairs: &mut dyn Iterator<Item = (&str, f64)>| {
            let body: Vec<String> = pairs
                .map(|(k, v)| format!("{}: {}", json_str(k), json_num(v)))
                .collect();
            format!("{{{}}}", body.join(", "))
        };
        let mut line = format!(
            "{{\"scenario\": {}, \"value\": {}, \"unit\": {}, \"baselines\": {}, \"ratios\": {}",
            json_str(self.scenario),
            json_num(self.value),
            json_str(self.unit),
            map(&mut self.baselines.iter().map(|(k, v)| (k.as_str(), *v))),
            map(&mut self
                .baselines
                .iter()
                .map(|(k, v)| (k.as_str(), ratio(self.value, *v)))),
        );
        for (k, v) in &self.extras {
            line.push_str(&format!(", {}: {}", json_str(k), json_num(*v)));
        }
        line.push('}');
        line
    }
}

fn ratio(ours: f64, base: f64) -> f64 {
    if base == 0.0 { f64::NAN } else { ours / base }
}

fn fmt_ratio(r: f64) -> String {
    if r.is_finite() {
        format!("{r:.2}x")
    } else {
        "n/a".into()
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// Three decimals are plenty; NaN (no figure) becomes `null`.
fn json_num(v: f64) -> String {
    serde_json::Value::from((v * 1000.0).round() / 1000.0).to_string()
}

/// Thousands separators for large figures, two decimals for small ones.
fn fmt(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v.abs() < 100.0 && v.fract() != 0.0 {
        return format!("{v:.2}");
    }
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The `q` quantile (0..=1) of `nanos`, in microseconds.
pub(crate) fn quantile_us(nanos: &[u64], q: f64) -> f64 {
    if nanos.is_empty() {
        return f64::NAN;
    }
    let mut v = nanos.to_vec();
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i] as f64 / 1000.0
}

/// Cores and CPU model, so figures from different machines are not mixed up.
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("nproc {cores}, CPU {cpu}")
}
