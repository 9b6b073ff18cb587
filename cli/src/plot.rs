//! The frontier as an SVG chart: iteration time against energy, with T_min, T* and the
//! all-max-frequency baseline marked (drawn by `ergon-plot`, like every figure).

use std::path::Path;

use anyhow::Result;
use ergon_core::perseus::Frontier;
use ergon_plot::{Bounds, Corner, Figure, Frame, Legend, Panel, Rgb, Series};

use crate::output;

/// The frame of the CLI's single-panel charts (the frontier, Oobleck's throughput).
pub const CHART_FRAME: Frame = Frame {
    title_px: 22,
    margin_px: 16,
    x_label_area_px: 48,
    y_label_area_px: 72,
};

/// Writes the chart to `path` (atomically, see [`output::write_file`]).
pub fn frontier_svg(f: &Frontier, path: &Path) -> Result<()> {
    output::write_file(path, frontier_figure(f).to_svg()?.as_bytes())
}

/// The chart: the frontier's points as a line, and three marked points.
fn frontier_figure(f: &Frontier) -> Figure {
    let points: Vec<(f64, f64)> = std::iter::once(&f.start)
        .chain(&f.points)
        .map(|p| (p.time_s, p.energy_j))
        .collect();
    let fastest = f.point(f.fastest()).unwrap_or(&f.start);
    let star = f.point(f.min_energy()).unwrap_or(&f.start);
    let baseline = (fastest.time_s, f.baseline_energy_j());
    let marks = [
        (baseline, Rgb(255, 0, 0), "all at max frequency"),
        (
            (fastest.time_s, fastest.energy_j),
            Rgb(0, 255, 0),
            "T_min (fastest plan)",
        ),
        (
            (star.time_s, star.energy_j),
            Rgb(255, 0, 255),
            "T* (minimum energy)",
        ),
    ];
    let b = Bounds::of(points.iter().copied().chain([baseline])).unwrap_or(Bounds {
        x_min: baseline.0,
        x_max: baseline.0,
        y_min: baseline.1,
        y_max: baseline.1,
    });
    let dx = ((b.x_max - b.x_min) * 0.05).max(1e-6);
    let dy = ((b.y_max - b.y_min) * 0.08).max(1e-6);
    let mut series =
        vec![Series::line("frontier (all points)", Rgb(0, 0, 255), 2).with_points(points)];
    series.extend(marks.into_iter().map(|(point, color, label)| {
        Series::dot(
            format!("{label}: {:.3} s, {:.1} J", point.0, point.1),
            color,
            6,
            point,
        )
    }));
    Figure {
        width_px: 900,
        height_px: 600,
        frame: CHART_FRAME,
        panels: vec![Panel {
            title: "Perseus iteration time–energy frontier".into(),
            x_desc: "iteration time (s)".into(),
            y_desc: "iteration energy (J)".into(),
            x_range: (b.x_min - dx)..(b.x_max + dx),
            y_range: (b.y_min - dy)..(b.y_max + dy),
            series,
        }],
        legend: Legend::Inside(Corner::UpperRight),
    }
}
