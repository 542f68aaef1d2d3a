//! Machine-readable figures for `bench/report.py`, which folds the figures of every
//! benchmark of one run into one table: one `@fig` line per measurement (a round), one
//! `@ref` line per comparison between medians. Shared by the benches of both crates.

#![allow(dead_code)]

/// One line per measured value of `what` in `section`, in `unit` (a rate ends in `/s`).
pub fn figures(section: &str, what: &str, unit: &str, values: &[f64]) {
    for v in values {
        println!("@fig\t{section}\t{what}\t{unit}\t{v}");
    }
}

/// Asks the report to compare the median of `what` with that of `reference`, as `label`.
pub fn compare(section: &str, what: &str, reference: &str, label: &str) {
    println!("@ref\t{section}\t{what}\t{reference}\t{label}");
}

/// The `--rounds N` argument, or `default`.
pub fn rounds(default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Minimum, median and maximum of `v` (sorted in place; not empty).
pub fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2], v[v.len() - 1])
}
