//! How a scenario's result is printed: a table with each baseline beside
//! our figure and the ratio, then one JSON line for machines.

use std::fmt::Write;

/// One scenario's outcome.
pub struct Report {
    pub scenario: &'static str,
    pub unit: &'static str,
    pub value: f64,
    /// Rates are better higher, memory lower; the ratio is always ours over
    /// the baseline's, as the JSON contract says.
    pub higher_is_better: bool,
    pub baselines: Vec<(String, f64)>,
    /// Extra figures (latency quantiles, settings) for the table and JSON.
    pub extra: Vec<(String, f64)>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn new(
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
            extra: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn baseline(mut self, name: &str, value: f64) -> Self {
        self.baselines.push((name.to_string(), value));
        self
    }

    pub fn extra(mut self, name: &str, value: f64) -> Self {
        self.extra.push((name.to_string(), value));
        self
    }

    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    pub fn print(&self) {
        let mut t = String::new();
        writeln!(t, "== {} ({}) ==", self.scenario, machine()).unwrap();
        writeln!(t, "{:<34} {:>16}  {}", "rusm", fmt(self.value), self.unit).unwrap();
        for (name, v) in &self.baselines {
            let better = if self.higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            };
            writeln!(
                t,
                "{:<34} {:>16}  {}   ratio rusm/baseline = {:.2}x ({better})",
                format!("baseline: {name}"),
                fmt(*v),
                self.unit,
                ratio(self.value, *v)
            )
            .unwrap();
        }
        for (name, v) in &self.extra {
            writeln!(t, "{:<34} {:>16}", name, fmt(*v)).unwrap();
        }
        for n in &self.notes {
            writeln!(t, "note: {n}").unwrap();
        }
        print!("{t}");
        let baselines: serde_json::Map<String, serde_json::Value> = self
            .baselines
            .iter()
            .map(|(k, v)| (k.clone(), json_num(*v)))
            .collect();
        let ratios: serde_json::Map<String, serde_json::Value> = self
            .baselines
            .iter()
            .map(|(k, v)| (k.clone(), json_num(ratio(self.value, *v))))
            .collect();
        let mut json = serde_json::json!({
            "scenario": self.scenario,
            "value": json_num(self.value),
            "unit": self.unit,
            "baselines": baselines,
            "ratios": ratios,
        });
        for (k, v) in &self.extra {
            json[k] = json_num(*v);
        }
        println!("{json}");
    }
}

fn ratio(ours: f64, base: f64) -> f64 {
    if base == 0.0 { 0.0 } else { ours / base }
}

fn json_num(v: f64) -> serde_json::Value {
    serde_json::Value::from((v * 1000.0).round() / 1000.0)
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{v:.2}")
    }
}

/// Cores and CPU model, so figures from different machines are not mixed up.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    format!("{cores} cores, {cpu}")
}
