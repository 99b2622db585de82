//! What a benchmark prints: aligned tables of figures and ratios, and the targets it checks
//! (a missed target makes the binary exit non-zero, so a benchmark can gate).

use std::fmt::Write;

/// A table printed with aligned columns, in Markdown pipe syntax so it pastes into docs as is.
pub struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Self {
        Table {
            title: title.to_string(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, width) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", String::as_str);
                let pad = width - cell.chars().count();
                let _ = write!(s, " {cell}{} |", " ".repeat(pad));
            }
            s
        };
        let mut out = format!("\n### {}\n\n", self.title);
        out.push_str(&line(&self.headers));
        out.push('\n');
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(&line(&rule));
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        // A blank line ends the table: Markdown would take a following text line as a row.
        out.push('\n');
        out
    }

    pub fn print(&self) {
        print!("{}", self.render());
    }
}

/// One target a benchmark states and checks.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    /// What was measured, as shown.
    pub measured: String,
    /// The bar, as shown.
    pub bar: String,
    pub met: bool,
}

/// The targets of one benchmark run.
#[derive(Debug, Default)]
pub struct Targets {
    items: Vec<Target>,
}

impl Targets {
    pub fn check(&mut self, name: &str, measured: String, bar: String, met: bool) {
        self.items.push(Target {
            name: name.to_string(),
            measured,
            bar,
            met,
        });
    }

    /// Prints the verdicts; true when every target was met.
    pub fn print(&self) -> bool {
        if self.items.is_empty() {
            println!(
                "\n(no target is stated for this benchmark; it fails only if a run goes wrong)"
            );
            return true;
        }
        let mut table = Table::new("targets", &["target", "measured", "bar", "verdict"]);
        for t in &self.items {
            table.row(vec![
                t.name.clone(),
                t.measured.clone(),
                t.bar.clone(),
                if t.met { "MET" } else { "MISSED" }.to_string(),
            ]);
        }
        table.print();
        self.items.iter().all(|t| t.met)
    }
}

/// `1234.5` → `1,235`: thousands separators for rates and counts.
pub fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A ratio shown as `2.35×`.
pub fn ratio(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}×")
    } else {
        "n/a".into()
    }
}

/// Milliseconds with one decimal.
pub fn ms(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "n/a".into()
    }
}

/// The median of `xs` (NaN when empty).
pub fn median(xs: &[f64]) -> f64 {
    percentile(xs, 50.0)
}

/// The `p`th percentile of `xs` by nearest rank (NaN when empty).
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let xs = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median(&xs), 3.0);
        assert_eq!(percentile(&xs, 99.0), 5.0);
        assert_eq!(percentile(&xs, 0.0), 1.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn large_numbers_get_separators() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(-1000.0), "-1,000");
    }
}
