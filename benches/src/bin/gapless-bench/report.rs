//! What a run leaves behind: a `.hgrm` percentile file and an SVG plot per latency histogram, and
//! one line per figure in `summary.tsv`, from which `gapless-bench table` prints the tables.
//!
//! Histograms hold nanoseconds; the files show microseconds (the `.hgrm` text is the layout of
//! HdrHistogram's `outputPercentileDistribution` with a unit scaling ratio of 1,000).

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

/// A histogram of nanoseconds, from 1 ns to one hour at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("constant bounds are valid")
}

/// Why results could not be written.
#[derive(Debug)]
pub enum ReportError {
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A line of `summary.tsv` that this program did not write.
    Summary { line: usize },
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            ReportError::Summary { line } => write!(f, "summary.tsv line {line} is malformed"),
        }
    }
}

impl std::error::Error for ReportError {}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |error| ReportError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// One figure of a run: a latency distribution, a rate, or both.
#[derive(Debug, Clone, Default)]
pub struct Row {
    /// `scenario.system`, e.g. `rt-100k.gapless`; rows sharing the scenario with system `gapless`
    /// and `quickfix` are compared in the ratio table.
    pub name: String,
    pub count: u64,
    /// p50, p99, p99.9, p99.99 and max, in microseconds; `None` for a pure rate.
    pub latency_us: Option<[f64; 5]>,
    /// Messages per second, where the scenario measures one.
    pub rate: Option<f64>,
    /// Free text: what was measured, memory figures, anomalies.
    pub note: String,
}

const QUANTILES: [f64; 4] = [0.50, 0.99, 0.999, 0.9999];

impl Row {
    /// A row from a histogram of nanoseconds.
    pub fn from_histogram(name: &str, histogram: &Histogram<u64>) -> Row {
        let us = |ns: u64| ns as f64 / 1_000.0;
        let latency = (!histogram.is_empty()).then(|| {
            let q = QUANTILES.map(|q| us(histogram.value_at_quantile(q)));
            [q[0], q[1], q[2], q[3], us(histogram.max())]
        });
        Row {
            name: name.to_string(),
            count: histogram.len(),
            latency_us: latency,
            ..Row::default()
        }
    }

    fn to_line(&self) -> String {
        let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
        let mut line = format!("{}\t{}", self.name, self.count);
        for i in 0..5 {
            let _ = write!(line, "\t{}", cell(self.latency_us.map(|l| l[i])));
        }
        let _ = write!(
            line,
            "\t{}\t{}",
            cell(self.rate),
            self.note.replace(['\t', '\n'], " ")
        );
        line
    }

    fn from_line(line: &str) -> Option<Row> {
        let cells: Vec<&str> = line.split('\t').collect();
        if cells.len() != 9 {
            return None;
        }
        let number = |s: &str| -> Option<Option<f64>> {
            if s == "-" {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        let mut latency = [0.0; 5];
        let mut present = true;
        for (i, slot) in latency.iter_mut().enumerate() {
            match number(cells[2 + i])? {
                Some(v) => *slot = v,
                None => present = false,
            }
        }
        Some(Row {
            name: cells[0].to_string(),
            count: cells[1].parse().ok()?,
            latency_us: present.then_some(latency),
            rate: number(cells[7])?,
            note: cells[8].to_string(),
        })
    }
}

/// The results folder of one run.
#[derive(Debug, Clone)]
pub struct Results {
    pub dir: PathBuf,
}

impl Results {
    pub fn open(dir: &Path) -> Result<Results, ReportError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        Ok(Results {
            dir: dir.to_path_buf(),
        })
    }

    /// Writes `<name>.hgrm` and `<name>.svg` for `histogram`, appends its row (with `rate` and
    /// `note`) to the summary, and prints it.
    pub fn latency(
        &self,
        name: &str,
        histogram: &Histogram<u64>,
        rate: Option<f64>,
        note: &str,
    ) -> Result<(), ReportError> {
        let hgrm = self.dir.join(format!("{name}.hgrm"));
        fs::write(&hgrm, percentile_text(histogram)).map_err(io_error(&hgrm))?;
        let svg = self.dir.join(format!("{name}.svg"));
        fs::write(&svg, percentile_svg(name, histogram)).map_err(io_error(&svg))?;
        let mut row = Row::from_histogram(name, histogram);
        row.rate = rate;
        row.note = note.to_string();
        self.append(&row)
    }

    /// Appends a rate-only row.
    pub fn rate(&self, name: &str, count: u64, rate: f64, note: &str) -> Result<(), ReportError> {
        self.append(&Row {
            name: name.to_string(),
            count,
            latency_us: None,
            rate: Some(rate),
            note: note.to_string(),
        })
    }

    fn append(&self, row: &Row) -> Result<(), ReportError> {
        let path = self.dir.join("summary.tsv");
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        writeln!(file, "{}", row.to_line()).map_err(io_error(&path))?;
        println!("{}", format_row(row));
        Ok(())
    }

    pub fn rows(&self) -> Result<Vec<Row>, ReportError> {
        let path = self.dir.join("summary.tsv");
        let text = fs::read_to_string(&path).map_err(io_error(&path))?;
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| Row::from_line(l).ok_or(ReportError::Summary { line: i + 1 }))
            .collect()
    }
}

fn format_row(row: &Row) -> String {
    let mut line = format!("{:<28} n={:<9}", row.name, row.count);
    if let Some(l) = row.latency_us {
        let _ = write!(
            line,
            " p50 {:>9.1} p99 {:>9.1} p99.9 {:>9.1} p99.99 {:>9.1} max {:>10.1} us",
            l[0], l[1], l[2], l[3], l[4]
        );
    }
    if let Some(rate) = row.rate {
        let _ = write!(line, "  {rate:>12.0}/s");
    }
    if !row.note.is_empty() {
        let _ = write!(line, "  ({})", row.note);
    }
    line
}

/// The tables of a results folder, as Markdown: every figure, then Gapless/QuickFIX ratios.
pub fn tables(rows: &[Row]) -> String {
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    let mut out = String::new();
    out.push_str(
        "| figure | n | p50 µs | p99 µs | p99.9 µs | p99.99 µs | max µs | msg/s | note |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for row in rows {
        let l = row.latency_us;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            row.count,
            cell(l.map(|l| l[0])),
            cell(l.map(|l| l[1])),
            cell(l.map(|l| l[2])),
            cell(l.map(|l| l[3])),
            cell(l.map(|l| l[4])),
            row.rate
                .map_or_else(|| "-".to_string(), |r| format!("{r:.0}")),
            row.note
        );
    }
    let mut ratios = String::new();
    for gapless in rows.iter().filter(|r| r.name.ends_with(".gapless")) {
        let scenario = gapless.name.trim_end_matches(".gapless");
        for quickfix in rows
            .iter()
            .filter(|r| r.name.starts_with(scenario) && r.name.contains(".quickfix"))
            .filter(|r| r.name[scenario.len()..].starts_with(".quickfix"))
        {
            let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) if b > 0.0 => significant(a / b),
                _ => "-".to_string(),
            };
            let (g, q) = (gapless.latency_us, quickfix.latency_us);
            let _ = writeln!(
                ratios,
                "| {} vs {} | {} | {} | {} | {} | {} | {} |",
                gapless.name,
                quickfix.name,
                ratio(g.map(|l| l[0]), q.map(|l| l[0])),
                ratio(g.map(|l| l[1]), q.map(|l| l[1])),
                ratio(g.map(|l| l[2]), q.map(|l| l[2])),
                ratio(g.map(|l| l[3]), q.map(|l| l[3])),
                ratio(g.map(|l| l[4]), q.map(|l| l[4])),
                ratio(gapless.rate, quickfix.rate),
            );
        }
    }
    if !ratios.is_empty() {
        out.push_str(
            "\nGapless / QuickFIX (latency: below 1 is faster; msg/s: above 1 is faster)\n\n\
             | pair | p50 | p99 | p99.9 | p99.99 | max | msg/s |\n\
             | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        out.push_str(&ratios);
    }
    out
}

/// A ratio with three significant digits: 0.00123, 0.456, 7.89, 123.
fn significant(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let decimals = (2 - value.abs().log10().floor() as i32).max(0) as usize;
    format!("{value:.decimals$}")
}

/// The percentile distribution in HdrHistogram's text layout, values in microseconds.
pub fn percentile_text(histogram: &Histogram<u64>) -> String {
    let mut out = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    if histogram.is_empty() {
        return out;
    }
    let mut total = 0u64;
    for step in histogram.iter_quantiles(5) {
        total += step.count_since_last_iteration();
        let q = step.quantile_iterated_to();
        let value = step.value_iterated_to() as f64 / 1_000.0;
        let inverse = if q < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - q))
        } else {
            String::new()
        };
        let _ = writeln!(out, "{value:12.3} {q:14.12} {total:10} {inverse}");
    }
    let mean = histogram.mean() / 1_000.0;
    let stdev = histogram.stdev() / 1_000.0;
    let _ = writeln!(
        out,
        "#[Mean    = {mean:12.3}, StdDeviation   = {stdev:12.3}]\n\
         #[Max     = {:12.3}, Total count    = {:12}]\n\
         #[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.max() as f64 / 1_000.0,
        histogram.len(),
        histogram.buckets(),
        histogram.distinct_values()
    );
    out
}

/// Latency by percentile, the usual HdrHistogram plot: x is 1/(1-percentile) on a log scale
/// (50 %, 90 %, 99 %, ... equally spaced), y the latency in microseconds on a log scale.
pub fn percentile_svg(title: &str, histogram: &Histogram<u64>) -> String {
    const W: f64 = 720.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"14\">{} (n = {})</text>\n",
        escape(title),
        histogram.len()
    );
    if histogram.is_empty() {
        svg.push_str("</svg>\n");
        return svg;
    }
    let points: Vec<(f64, f64)> = histogram
        .iter_quantiles(5)
        .filter(|s| s.quantile_iterated_to() < 1.0)
        .map(|s| {
            (
                (1.0 / (1.0 - s.quantile_iterated_to())).log10(),
                (s.value_iterated_to().max(1) as f64 / 1_000.0).log10(),
            )
        })
        .collect();
    let x_max = points.iter().map(|p| p.0).fold(2.0_f64, f64::max).ceil();
    let y_lo = (histogram.min().max(1) as f64 / 1_000.0).log10().floor();
    let y_hi = (histogram.max().max(1) as f64 / 1_000.0)
        .log10()
        .ceil()
        .max(y_lo + 1.0);
    let px = |x: f64| LEFT + x / x_max * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y - y_lo) / (y_hi - y_lo) * (H - TOP - BOTTOM);
    // Axes, grid and labels.
    for decade in 0..=(x_max as i32) {
        let x = px(decade as f64);
        let label = match decade {
            0 => "0%".to_string(),
            d => format!("{}%", 100.0 - 100.0 / 10f64.powi(d)),
        };
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
    }
    for decade in (y_lo as i32)..=(y_hi as i32) {
        let y = py(decade as f64);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            10f64.powi(decade)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>\
         <text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">latency (µs, log)</text>",
        (LEFT + W - RIGHT) / 2.0,
        H - 12.0,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
    let path: Vec<String> = points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_round_trips_a_latency_row() {
        let mut histogram = new_histogram();
        for ns in [1_000, 2_000, 3_000, 1_000_000] {
            histogram.record(ns).unwrap();
        }
        let mut row = Row::from_histogram("rt-10k.gapless", &histogram);
        row.rate = Some(10_000.0);
        row.note = "a\tb".into();
        let back = Row::from_line(&row.to_line()).unwrap();
        assert_eq!(back.name, "rt-10k.gapless");
        assert_eq!(back.count, 4);
        let latency = back.latency_us.unwrap();
        assert!((latency[0] - 2.0).abs() < 0.01, "{latency:?}");
        assert!((latency[4] - 1_000.0).abs() < 1.0, "{latency:?}");
        assert_eq!(back.note, "a b");
    }

    #[test]
    fn tables_pair_gapless_with_quickfix_rows_of_the_same_scenario() {
        let row = |name: &str, p50: f64, rate: Option<f64>| Row {
            name: name.into(),
            count: 1,
            latency_us: Some([p50, p50, p50, p50, p50]),
            rate,
            note: String::new(),
        };
        let rows = [
            row("rt-closed.gapless", 20.0, Some(40_000.0)),
            row("rt-closed.quickfix", 40.0, Some(20_000.0)),
            row("rt-closed2.quickfix", 1.0, None),
        ];
        let text = tables(&rows);
        assert!(
            text.contains("| rt-closed.gapless vs rt-closed.quickfix | 0.500 | 0.500 | 0.500 | 0.500 | 0.500 | 2.00 |"),
            "{text}"
        );
        assert!(!text.contains("vs rt-closed2"), "{text}");
    }

    #[test]
    fn significant_keeps_three_digits_of_small_and_large_ratios() {
        assert_eq!(significant(0.000_843), "0.000843");
        assert_eq!(significant(0.5), "0.500");
        assert_eq!(significant(6.312), "6.31");
        assert_eq!(significant(1_234.0), "1234");
    }

    #[test]
    fn percentile_text_ends_at_the_maximum() {
        let mut histogram = new_histogram();
        for ns in 1..=10_000u64 {
            histogram.record(ns * 100).unwrap();
        }
        let text = percentile_text(&histogram);
        assert!(text.contains("Total count    =        10000"), "{text}");
        let last = text
            .lines()
            .rev()
            .find(|l| !l.starts_with('#') && !l.trim().is_empty())
            .unwrap();
        assert!(last.contains("1.000000000000"), "{last}");
        assert!(
            last.contains(" 10000 "),
            "the count column is cumulative: {last}"
        );
        assert!(percentile_svg("x", &histogram).contains("<polyline"));
    }
}
