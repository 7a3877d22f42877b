//! The measured figures and the table printed from them.

use std::fmt::Write;

use crate::stats::{Summary, summarize};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    Lower,
    Higher,
}

/// A target a figure is held to. `check` gets ours' and (if measured) the
/// original's summaries and says whether the target is met (None: cannot
/// be judged in this run, e.g. a ratio target without the original).
pub type Check = Box<dyn Fn(&Summary, Option<&Summary>) -> Option<bool>>;

pub struct Target {
    pub text: String,
    pub check: Check,
}

pub struct Row {
    pub label: String,
    pub unit: &'static str,
    pub better: Better,
    pub ours: Vec<f64>,
    pub orig: Vec<f64>,
    pub targets: Vec<Target>,
    /// Shown instead of the original's figure when it was not measured.
    pub orig_note: Option<String>,
}

impl Row {
    pub fn new(label: impl Into<String>, unit: &'static str, better: Better) -> Row {
        Row {
            label: label.into(),
            unit,
            better,
            ours: Vec::new(),
            orig: Vec::new(),
            targets: Vec::new(),
            orig_note: None,
        }
    }

    pub fn target(
        mut self,
        text: impl Into<String>,
        check: impl Fn(&Summary, Option<&Summary>) -> Option<bool> + 'static,
    ) -> Row {
        self.targets.push(Target {
            text: text.into(),
            check: Box::new(check),
        });
        self
    }

    /// How many times better ours is than the original (median against
    /// median): original/ours for lower-is-better figures, ours/original
    /// for higher-is-better ones. Below 1 means ours is worse.
    pub fn advantage(&self) -> Option<f64> {
        let o = summarize(&self.ours)?;
        let g = summarize(&self.orig)?;
        let r = match self.better {
            Better::Lower => g.median / o.median,
            Better::Higher => o.median / g.median,
        };
        r.is_finite().then_some(r)
    }
}

/// Below-or-equal target on ours' median.
pub fn at_most(limit: f64) -> impl Fn(&Summary, Option<&Summary>) -> Option<bool> {
    move |o, _| Some(o.median <= limit)
}

/// Below target on ours' median (strict).
pub fn below(limit: f64) -> impl Fn(&Summary, Option<&Summary>) -> Option<bool> {
    move |o, _| Some(o.median < limit)
}

/// At-least target on ours' median.
pub fn at_least(limit: f64) -> impl Fn(&Summary, Option<&Summary>) -> Option<bool> {
    move |o, _| Some(o.median >= limit)
}

/// Ours at least `factor` times better than the original (lower is better).
pub fn ratio_at_least(factor: f64) -> impl Fn(&Summary, Option<&Summary>) -> Option<bool> {
    move |o, g| g.map(|g| g.median / o.median >= factor)
}

pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn fmt_summary(s: &[f64], unit: &str) -> String {
    match summarize(s) {
        None => "—".into(),
        Some(x) if x.n == 1 => format!("{} {unit}", fmt_num(x.median)),
        Some(x) => format!(
            "{} / **{}** / {} {unit} (n={})",
            fmt_num(x.min),
            fmt_num(x.median),
            fmt_num(x.max),
            x.n
        ),
    }
}

/// The Markdown table: figure, ours, original, advantage, targets.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| figure | ours: min / **median** / max | original: min / **median** / max | ours better by | target | met? |\n");
    out.push_str("|---|---|---|---|---|---|\n");
    for r in rows {
        let ours_s = summarize(&r.ours);
        let orig_s = summarize(&r.orig);
        let orig_txt = match (&r.orig_note, r.orig.is_empty()) {
            (Some(n), true) => n.clone(),
            (Some(n), false) => format!("{} ({n})", fmt_summary(&r.orig, r.unit)),
            (None, _) => fmt_summary(&r.orig, r.unit),
        };
        let adv = r
            .advantage()
            .map(|a| format!("{}×", fmt_num(a)))
            .unwrap_or_else(|| "—".into());
        let (ttxt, met) = if r.targets.is_empty() {
            (String::new(), String::new())
        } else {
            let texts: Vec<&str> = r.targets.iter().map(|t| t.text.as_str()).collect();
            let verdicts: Vec<&str> = r
                .targets
                .iter()
                .map(|t| match ours_s.as_ref() {
                    None => "not measured",
                    Some(o) => match (t.check)(o, orig_s.as_ref()) {
                        Some(true) => "met",
                        Some(false) => "**MISSED**",
                        None => "n/a (needs original)",
                    },
                })
                .collect();
            (texts.join("; "), verdicts.join("; "))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.label,
            fmt_summary(&r.ours, r.unit),
            orig_txt,
            adv,
            ttxt,
            met
        );
    }
    out
}

/// True when any judged target is missed.
pub fn any_missed(rows: &[Row]) -> bool {
    rows.iter().any(|r| {
        let Some(o) = summarize(&r.ours) else {
            return false;
        };
        let g = summarize(&r.orig);
        r.targets
            .iter()
            .any(|t| (t.check)(&o, g.as_ref()) == Some(false))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_marks_met_missed_and_ratio() {
        let mut fast = Row::new("launch", "ms", Better::Lower)
            .target("≤ 10 ms", at_most(10.0))
            .target("≥ 300× original", ratio_at_least(300.0));
        fast.ours = vec![4.0, 5.0, 6.0];
        fast.orig = vec![7000.0];
        let mut slow = Row::new("rps", "req/s", Better::Higher).target("≥ 50k", at_least(50_000.0));
        slow.ours = vec![20_000.0];
        let mut alone =
            Row::new("alone", "ms", Better::Lower).target("≥ 2× original", ratio_at_least(2.0));
        alone.ours = vec![1.0];
        alone.orig_note = Some("not run".into());
        let rows = vec![fast, slow, alone];
        let t = table(&rows);
        assert!(t.contains("| launch | 4.000 / **5.000** / 6.000 ms (n=3) | 7000 ms | 1400× | ≤ 10 ms; ≥ 300× original | met; met |"), "{t}");
        assert!(
            t.contains("| rps | 20000 req/s | — | — | ≥ 50k | **MISSED** |"),
            "{t}"
        );
        assert!(
            t.contains("| alone | 1.000 ms | not run | — | ≥ 2× original | n/a (needs original) |"),
            "{t}"
        );
        assert!(any_missed(&rows));
    }
}
