//! The frontier as an SVG chart: iteration time against energy, with T_min, T* and the
//! all-max-frequency baseline marked.

use std::path::Path;

use anyhow::{Result, anyhow};
use ergon_core::perseus::Frontier;
use plotters::prelude::*;

use crate::frontier_cmd::all_fastest_energy;
use crate::output;

/// Writes the chart to `path` (atomically, see [`output::write_file`]).
pub fn frontier_svg(f: &Frontier, path: &Path) -> Result<()> {
    let series: Vec<(f64, f64)> = std::iter::once(&f.start)
        .chain(&f.points)
        .map(|p| (p.time_s, p.energy_j))
        .collect();
    let fastest = f.point(f.fastest()).unwrap_or(&f.start);
    let star = f.point(f.min_energy()).unwrap_or(&f.start);
    let baseline = (fastest.time_s, all_fastest_energy(f));

    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in series.iter().chain(std::iter::once(&baseline)) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (dx, dy) = (((x1 - x0) * 0.05).max(1e-6), ((y1 - y0) * 0.08).max(1e-6));

    // Drawn in memory, then written in one go: a failure leaves no half-drawn file.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 600)).into_drawing_area();
        let err = |e: DrawingAreaErrorKind<std::io::Error>| anyhow!("{e}");
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Perseus iteration time–energy frontier", ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((x0 - dx)..(x1 + dx), (y0 - dy)..(y1 + dy))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("iteration time (s)")
            .y_desc("iteration energy (J)")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                series.iter().copied(),
                BLUE.stroke_width(2),
            ))
            .map_err(err)?
            .label("frontier (all points)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        let marks = [
            (baseline, RED, "all at max frequency"),
            (
                (fastest.time_s, fastest.energy_j),
                GREEN,
                "T_min (fastest plan)",
            ),
            ((star.time_s, star.energy_j), MAGENTA, "T* (minimum energy)"),
        ];
        for (point, color, label) in marks {
            chart
                .draw_series(std::iter::once(Circle::new(point, 6, color.filled())))
                .map_err(err)?
                .label(format!("{label}: {:.3} s, {:.1} J", point.0, point.1))
                .legend(move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    output::write_file(path, svg.as_bytes())
}
