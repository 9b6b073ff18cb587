//! `ergon-plot`: every SVG figure Ergon draws — the `ergon frontier` plot and the paper figures
//! of `ergon-experiments` — through one description and one renderer.
//!
//! A [`Figure`] is one or more side-by-side [`Panel`]s of [`Series`] (lines, markers, or both,
//! in data coordinates) and a [`Legend`]; [`Figure::to_svg`] returns the whole SVG document as
//! text. Nothing here touches files: callers write the text where and how they write every
//! other output (atomically, in the command-line crates), so a failed drawing never leaves a
//! half-written file.
//!
//! The renderer is the `plotters` crate's SVG backend; BENCHMARKS.md ("Plotting") records the
//! binary size and drawing time measured against a hand-written SVG writer before choosing it.

use std::fmt;
use std::ops::Range;

use plotters::prelude::*;

/// A colour, 8 bits per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    fn color(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// Ten distinguishable line colours (matplotlib's `tab10`/`tab20` order as used by the paper
/// figures): series `i` of a figure takes `PALETTE[i % 10]` unless it has a colour of its own.
pub const PALETTE: [Rgb; 10] = [
    Rgb(214, 39, 40),
    Rgb(31, 119, 180),
    Rgb(174, 199, 232),
    Rgb(44, 160, 44),
    Rgb(152, 223, 138),
    Rgb(255, 127, 14),
    Rgb(148, 103, 189),
    Rgb(197, 176, 213),
    Rgb(140, 86, 75),
    Rgb(196, 156, 148),
];

/// One set of points of a panel, drawn as a line through them, a marker on each, or both.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Name in the legend; `None` keeps the series out of it.
    pub label: Option<String>,
    /// Colour of the line and the markers.
    pub color: Rgb,
    /// Width of the line through the points in pixels; `None` draws no line.
    pub line_width_px: Option<u32>,
    /// Radius of a filled circle on each point in pixels; `None` draws no markers.
    pub marker_radius_px: Option<u32>,
    /// The points `(x, y)` in data coordinates, in drawing order.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A labelled line through `points`, without markers.
    pub fn line(label: impl Into<String>, color: Rgb, width_px: u32) -> Self {
        Series {
            label: Some(label.into()),
            color,
            line_width_px: Some(width_px),
            marker_radius_px: None,
            points: Vec::new(),
        }
    }

    /// One labelled point drawn as a filled circle (a marked place such as an optimum).
    pub fn dot(label: impl Into<String>, color: Rgb, radius_px: u32, point: (f64, f64)) -> Self {
        Series {
            label: Some(label.into()),
            color,
            line_width_px: None,
            marker_radius_px: Some(radius_px),
            points: vec![point],
        }
    }

    /// The same series with a filled circle of `radius_px` on every point.
    pub fn with_markers(mut self, radius_px: u32) -> Self {
        self.marker_radius_px = Some(radius_px);
        self
    }

    /// The same series with these points.
    pub fn with_points(mut self, points: Vec<(f64, f64)>) -> Self {
        self.points = points;
        self
    }
}

/// One chart: a title, axes with descriptions over the given ranges, and its series.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// Description of the x axis.
    pub x_desc: String,
    /// Description of the y axis.
    pub y_desc: String,
    /// Visible x range (data coordinates).
    pub x_range: Range<f64>,
    /// Visible y range (data coordinates).
    pub y_range: Range<f64>,
    /// What is drawn, in order (later series on top).
    pub series: Vec<Series>,
}

impl Panel {
    /// Whether no series has a point: such a panel is left blank (a sweep over nothing).
    fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }
}

/// Sizes around each panel's plotting area, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Font size of the panel title.
    pub title_px: u32,
    /// Empty margin around the panel.
    pub margin_px: u32,
    /// Height of the x axis's tick labels and description.
    pub x_label_area_px: u32,
    /// Width of the y axis's tick labels and description.
    pub y_label_area_px: u32,
}

/// Corner of a panel for an inside legend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Corner {
    /// Top left.
    UpperLeft,
    /// Top right.
    UpperRight,
}

/// Where the labelled series are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Legend {
    /// A boxed legend inside each panel, in this corner.
    Inside(Corner),
    /// One row across the bottom of the figure, this tall, naming the labelled series of the
    /// first panel that has any (panels that share their series, as in a pair of sweeps); it
    /// hides no line.
    Below {
        /// Height of the row.
        height_px: u32,
    },
}

/// A whole figure: panels side by side, then the legend.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Width of the SVG.
    pub width_px: u32,
    /// Height of the SVG (the legend row included).
    pub height_px: u32,
    /// Sizes around every panel.
    pub frame: Frame,
    /// The panels, left to right.
    pub panels: Vec<Panel>,
    /// Where the series are named.
    pub legend: Legend,
}

/// A figure that could not be drawn (the renderer's message, e.g. for an empty range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotError(String);

impl fmt::Display for PlotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "drawing the figure: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

fn plot_error(e: DrawingAreaErrorKind<std::io::Error>) -> PlotError {
    PlotError(e.to_string())
}

/// Smallest and largest coordinates of a set of points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Smallest x.
    pub x_min: f64,
    /// Largest x.
    pub x_max: f64,
    /// Smallest y.
    pub y_min: f64,
    /// Largest y.
    pub y_max: f64,
}

impl Bounds {
    /// The bounds of `points`; `None` when there are none.
    pub fn of(points: impl IntoIterator<Item = (f64, f64)>) -> Option<Bounds> {
        points.into_iter().fold(None, |b, (x, y)| {
            Some(match b {
                None => Bounds {
                    x_min: x,
                    x_max: x,
                    y_min: y,
                    y_max: y,
                },
                Some(b) => Bounds {
                    x_min: b.x_min.min(x),
                    x_max: b.x_max.max(x),
                    y_min: b.y_min.min(y),
                    y_max: b.y_max.max(y),
                },
            })
        })
    }
}

/// A part of the SVG being drawn.
type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// Length of a line's sample in a legend, pixels.
const LEGEND_LINE_PX: i32 = 18;
/// Radius of a marker-only series' sample in a legend, pixels.
const LEGEND_DOT_PX: i32 = 5;
/// Font size of the names in a legend row below the panels.
const LEGEND_ROW_FONT_PX: u32 = 14;
/// Light grey of the minor grid lines.
const GRID: RGBColor = RGBColor(235, 235, 235);

impl Figure {
    /// The figure as a complete SVG document. A panel with points whose x or y range is not
    /// finite and increasing is an error (the renderer would panic on it).
    pub fn to_svg(&self) -> Result<String, PlotError> {
        for panel in self.panels.iter().filter(|p| !p.is_empty()) {
            for (axis, r) in [("x", &panel.x_range), ("y", &panel.y_range)] {
                if !(r.start.is_finite() && r.end.is_finite() && r.start < r.end) {
                    return Err(PlotError(format!(
                        "panel \"{}\": {axis} range {}..{} is not finite and increasing",
                        panel.title, r.start, r.end
                    )));
                }
            }
        }
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (self.width_px, self.height_px))
                .into_drawing_area();
            root.fill(&WHITE).map_err(plot_error)?;
            let (charts, row) = match self.legend {
                Legend::Below { height_px } => {
                    let (charts, row) =
                        root.split_vertically(self.height_px.saturating_sub(height_px));
                    (charts, Some(row))
                }
                Legend::Inside(_) => (root.clone(), None),
            };
            let areas = charts.split_evenly((1, self.panels.len().max(1)));
            for (area, panel) in areas.iter().zip(&self.panels) {
                if !panel.is_empty() {
                    self.draw_panel(area, panel)?;
                }
            }
            if let Some(row) = row {
                self.draw_legend_row(&row)?;
            }
            root.present().map_err(plot_error)?;
        }
        Ok(svg)
    }

    fn draw_panel(&self, area: &Area<'_>, panel: &Panel) -> Result<(), PlotError> {
        let f = self.frame;
        let mut chart = ChartBuilder::on(area)
            .caption(&panel.title, ("sans-serif", f.title_px))
            .margin(f.margin_px)
            .x_label_area_size(f.x_label_area_px)
            .y_label_area_size(f.y_label_area_px)
            .build_cartesian_2d(panel.x_range.clone(), panel.y_range.clone())
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(panel.x_desc.as_str())
            .y_desc(panel.y_desc.as_str())
            .light_line_style(GRID)
            .draw()
            .map_err(plot_error)?;
        let inside = matches!(self.legend, Legend::Inside(_));
        for s in &panel.series {
            let color = s.color.color();
            // The legend entry goes with the line when there is one, else with the markers.
            let label = s.label.as_deref().filter(|_| inside);
            if let Some(width) = s.line_width_px {
                let drawn = chart
                    .draw_series(LineSeries::new(
                        s.points.iter().copied(),
                        color.stroke_width(width),
                    ))
                    .map_err(plot_error)?;
                if let Some(label) = label {
                    drawn.label(label).legend(move |(x, y)| {
                        PathElement::new(
                            vec![(x, y), (x + LEGEND_LINE_PX, y)],
                            color.stroke_width(width),
                        )
                    });
                }
            }
            if let Some(radius) = s.marker_radius_px {
                let drawn = chart
                    .draw_series(
                        s.points
                            .iter()
                            .map(|&p| Circle::new(p, radius, color.filled())),
                    )
                    .map_err(plot_error)?;
                if let (Some(label), None) = (label, s.line_width_px) {
                    drawn.label(label).legend(move |(x, y)| {
                        Circle::new((x + LEGEND_LINE_PX / 2, y), LEGEND_DOT_PX, color.filled())
                    });
                }
            }
        }
        if let Legend::Inside(corner) = self.legend {
            let has_labels = panel.series.iter().any(|s| s.label.is_some());
            if has_labels {
                chart
                    .configure_series_labels()
                    .position(match corner {
                        Corner::UpperLeft => SeriesLabelPosition::UpperLeft,
                        Corner::UpperRight => SeriesLabelPosition::UpperRight,
                    })
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK)
                    .draw()
                    .map_err(plot_error)?;
            }
        }
        Ok(())
    }

    /// The row below the panels: a line sample and the name of each labelled series, spread
    /// evenly over the width.
    fn draw_legend_row(&self, row: &Area<'_>) -> Result<(), PlotError> {
        let Some(panel) = self
            .panels
            .iter()
            .find(|p| p.series.iter().any(|s| s.label.is_some()))
        else {
            return Ok(());
        };
        let entries: Vec<(&str, &Series)> = panel
            .series
            .iter()
            .filter_map(|s| s.label.as_deref().map(|l| (l, s)))
            .collect();
        let side = 20;
        let usable = i32::try_from(self.width_px)
            .unwrap_or(i32::MAX)
            .saturating_sub(2 * side);
        let step = usable / i32::try_from(entries.len()).unwrap_or(i32::MAX).max(1);
        for (i, (label, s)) in entries.into_iter().enumerate() {
            let x = side + step.saturating_mul(i32::try_from(i).unwrap_or(i32::MAX));
            let color = s.color.color();
            let width = s.line_width_px.unwrap_or(1);
            row.draw(&PathElement::new(
                vec![(x, 20), (x + 22, 20)],
                color.stroke_width(width),
            ))
            .map_err(plot_error)?;
            row.draw(&Text::new(
                label.to_string(),
                (x + 28, 13),
                ("sans-serif", LEGEND_ROW_FONT_PX),
            ))
            .map_err(plot_error)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn frame() -> Frame {
        Frame {
            title_px: 20,
            margin_px: 16,
            x_label_area_px: 44,
            y_label_area_px: 64,
        }
    }

    fn panel(title: &str, series: Vec<Series>) -> Panel {
        Panel {
            title: title.into(),
            x_desc: "x axis".into(),
            y_desc: "y axis".into(),
            x_range: 0.0..10.0,
            y_range: 0.0..5.0,
            series,
        }
    }

    #[test]
    fn bounds_cover_every_point_and_none_without_points() {
        assert_eq!(Bounds::of([]), None);
        let b = Bounds::of([(1.0, 5.0), (-2.0, 3.0), (4.0, 7.5)]).unwrap();
        assert_eq!(
            b,
            Bounds {
                x_min: -2.0,
                x_max: 4.0,
                y_min: 3.0,
                y_max: 7.5
            }
        );
    }

    #[test]
    fn an_inside_legend_names_the_labelled_series_only() {
        let figure = Figure {
            width_px: 800,
            height_px: 520,
            frame: frame(),
            panels: vec![panel(
                "Two lines",
                vec![
                    Series::line("first line", PALETTE[0], 2)
                        .with_markers(4)
                        .with_points(vec![(0.0, 1.0), (5.0, 2.0), (10.0, 3.0)]),
                    Series {
                        label: None,
                        ..Series::line("", PALETTE[1], 1)
                    }
                    .with_points(vec![(0.0, 4.0), (10.0, 4.0)]),
                    Series::dot("the best point", PALETTE[3], 6, (5.0, 2.0)),
                ],
            )],
            legend: Legend::Inside(Corner::UpperLeft),
        };
        let svg = figure.to_svg().unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        let texts = [
            "Two lines",
            "x axis",
            "y axis",
            "first line",
            "the best point",
        ];
        let missing: Vec<&str> = texts.into_iter().filter(|t| !svg.contains(t)).collect();
        assert!(missing.is_empty(), "{missing:?} not in the SVG");
        // Three markers on the first line, one dot, one dot sample in the legend.
        assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
        // The colours of the series appear as drawn.
        assert!(svg.contains("#D62728") || svg.contains("#d62728"), "{svg}");
    }

    #[test]
    fn a_legend_row_names_the_series_once_and_empty_panels_stay_blank() {
        let series = |points: Vec<(f64, f64)>| {
            vec![
                Series::line("alpha", PALETTE[0], 3)
                    .with_markers(3)
                    .with_points(points.clone()),
                Series::line("beta", PALETTE[1], 1)
                    .with_markers(3)
                    .with_points(points),
            ]
        };
        let figure = |right: Vec<(f64, f64)>| Figure {
            width_px: 1200,
            height_px: 560,
            frame: frame(),
            panels: vec![
                panel("left panel", series(vec![(1.0, 1.0), (2.0, 2.0)])),
                panel("right panel", series(right)),
            ],
            legend: Legend::Below { height_px: 50 },
        };
        let both = figure(vec![(3.0, 1.0)]).to_svg().unwrap();
        assert!(both.contains("left panel") && both.contains("right panel"));
        // The renderer puts each text on a line of its own.
        assert_eq!(both.matches("\nalpha\n").count(), 1, "{both}");
        assert_eq!(both.matches("\nbeta\n").count(), 1, "{both}");
        let one = figure(vec![]).to_svg().unwrap();
        assert!(one.contains("left panel"));
        assert!(!one.contains("right panel"), "an empty panel is not drawn");
        assert_eq!(one.matches("\nalpha\n").count(), 1);
    }

    #[test]
    fn a_range_that_cannot_be_drawn_is_an_error_not_a_panic() {
        // plotters panics on a NaN range; the figure refuses it first.
        let bad = [
            (f64::NAN..1.0, 0.0..1.0, "x"),
            (0.0..1.0, 0.0..f64::INFINITY, "y"),
            (2.0..2.0, 0.0..1.0, "x"),
            (0.0..1.0, 1.0..0.0, "y"),
        ];
        for (x_range, y_range, axis) in bad {
            let mut p = panel("bad", vec![Series::dot("p", PALETTE[0], 3, (1.0, 1.0))]);
            p.x_range = x_range.clone();
            p.y_range = y_range.clone();
            let figure = Figure {
                width_px: 400,
                height_px: 300,
                frame: frame(),
                panels: vec![p],
                legend: Legend::Inside(Corner::UpperRight),
            };
            let e = figure.to_svg().unwrap_err().to_string();
            assert!(
                e.contains(&format!("{axis} range")) && e.contains("\"bad\""),
                "{x_range:?} {y_range:?}: {e}"
            );
        }
    }
}
