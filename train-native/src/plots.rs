//! SVG plots of a run, like the graphs the original Keras script drew: training curves and the
//! test confusion matrix. SVG needs no fonts on the training machine and stays sharp on the page.

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use skin_lesion::metrics::{Calibration, Metrics};
use skin_lesion::report::{EpochRecord, SelectiveReport};

fn err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("cannot draw the plot: {e}")
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

/// An SVG of `size` pixels on white, drawn by `draw`, as a string.
fn svg(size: (u32, u32), draw: impl FnOnce(&Area) -> Result<()>) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A named line per epoch for each `(label, value, colour)`.
type Series<'a> = (&'a str, fn(&EpochRecord) -> f64, RGBColor);

fn draw_lines(
    chart: &mut ChartContext<
        '_,
        SVGBackend<'_>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    history: &[EpochRecord],
    series: &[Series],
) -> Result<()> {
    for &(name, f, color) in series {
        let points: Vec<(f64, f64)> = history.iter().map(|h| (h.epoch as f64, f(h))).collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    Ok(())
}

/// Loss (left) and accuracy (right) per epoch, train against validation.
pub fn training_curves(history: &[EpochRecord]) -> Result<String> {
    svg((1000, 400), |root| {
        let (left, right) = root.split_horizontally(500);
        let epochs = history.len().max(1) as f64;
        let x_range = 0.5..epochs + 0.5;

        let max_loss = history
            .iter()
            .flat_map(|h| [h.train_loss, h.val_loss])
            .fold(0.0, f64::max)
            .max(0.1)
            * 1.05;
        let mut chart = ChartBuilder::on(&left)
            .caption("Loss", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x_range.clone(), 0.0..max_loss)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("cross-entropy")
            .draw()
            .map_err(err)?;
        draw_lines(
            &mut chart,
            history,
            &[
                ("train (weighted, smoothed)", |h| h.train_loss, BLUE),
                ("validation", |h| h.val_loss, RED),
            ],
        )?;
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;

        let mut chart = ChartBuilder::on(&right)
            .caption("Accuracy", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x_range, 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("fraction")
            .draw()
            .map_err(err)?;
        draw_lines(
            &mut chart,
            history,
            &[
                (
                    "train accuracy (balanced sampling)",
                    |h| h.train_accuracy,
                    BLUE,
                ),
                (
                    "validation accuracy",
                    |h| h.val_accuracy,
                    RGBColor(150, 150, 150),
                ),
                (
                    "validation balanced accuracy",
                    |h| h.val_balanced_accuracy,
                    RED,
                ),
                (
                    "validation macro F1",
                    |h| h.val_macro_f1,
                    RGBColor(0, 140, 70),
                ),
            ],
        )?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// The confusion matrix as a heatmap: colour is the row-normalised fraction (recall on the
/// diagonal), the number is the count.
pub fn confusion_matrix<S: AsRef<str>>(metrics: &Metrics, classes: &[S]) -> Result<String> {
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let m = &metrics.confusion_matrix.0;
    let n = classes.len();
    svg((560, 520), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("Confusion matrix (test split)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(60)
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(err)?;
        // Row 0 (akiec) at the top: y runs upwards, so class t sits at y = n - 1 - t.
        let name = |v: &SegmentValue<usize>, flip: bool| match v {
            SegmentValue::CenterOf(i) if *i < n => classes[if flip { n - 1 - *i } else { *i }]
                .as_ref()
                .to_string(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|v| name(v, false))
            .y_label_formatter(&|v| name(v, true))
            .draw()
            .map_err(err)?;
        for (t, row) in m.iter().enumerate() {
            let support = row.iter().sum::<usize>().max(1) as f64;
            let y = n - 1 - t;
            for (p, &count) in row.iter().enumerate() {
                let frac = count as f64 / support;
                let shade = (255.0 * (1.0 - 0.85 * frac)) as u8;
                let fill = RGBColor(shade, (shade as f64 * 0.9 + 25.0) as u8, 255);
                let cell = [
                    (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                    (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                ];
                chart
                    .draw_series(std::iter::once(Rectangle::new(cell, fill.filled())))
                    .map_err(err)?;
                let color = if frac > 0.55 { WHITE } else { BLACK };
                let style = ("sans-serif", 15)
                    .into_font()
                    .color(&color)
                    .pos(Pos::new(HPos::Center, VPos::Center));
                let centre = (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y));
                chart
                    .draw_series(std::iter::once(Text::new(count.to_string(), centre, style)))
                    .map_err(err)?;
            }
        }
        Ok(())
    })
}

/// The reliability diagram: each bin's accuracy against its mean confidence, the diagonal
/// being perfect calibration, with the share of photos in each bin beneath.
pub fn reliability(calibration: &Calibration) -> Result<String> {
    svg((520, 480), |root| {
        let caption = format!("Reliability (test split, ECE {:.3})", calibration.ece);
        let mut chart = ChartBuilder::on(root)
            .caption(caption, ("sans-serif", 20))
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("confidence (calibrated top probability)")
            .y_desc("accuracy")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.4).stroke_width(1),
            ))
            .map_err(err)?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK.mix(0.4)));
        let total = calibration
            .reliability
            .iter()
            .map(|b| b.count)
            .sum::<usize>()
            .max(1) as f64;
        let filled: Vec<_> = calibration
            .reliability
            .iter()
            .filter(|b| b.count > 0)
            .collect();
        chart
            .draw_series(filled.iter().map(|b| {
                Rectangle::new(
                    [(b.lower + 0.004, 0.0), (b.upper - 0.004, b.accuracy)],
                    BLUE.mix(0.55).filled(),
                )
            }))
            .map_err(err)?
            .label("accuracy in the bin")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], BLUE.mix(0.55).filled())
            });
        chart
            .draw_series(filled.iter().map(|b| {
                let share = b.count as f64 / total;
                Rectangle::new(
                    [(b.lower + 0.02, 0.0), (b.upper - 0.02, share)],
                    RGBColor(230, 140, 40).mix(0.8).filled(),
                )
            }))
            .map_err(err)?
            .label("share of photos")
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 5), (x + 18, y + 5)],
                    RGBColor(230, 140, 40).mix(0.8).filled(),
                )
            });
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// The risk-coverage curve: accuracy on the photos answered, most confident first, against
/// the share answered, with the "unsure" threshold's point marked.
pub fn risk_coverage(selective: &SelectiveReport) -> Result<String> {
    svg((520, 420), |root| {
        let lowest = selective
            .curve
            .iter()
            .map(|p| p.accuracy)
            .fold(1.0, f64::min);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Accuracy on the answered photos (test split)",
                ("sans-serif", 20),
            )
            .margin(14)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(0.0..1.0, (lowest - 0.05).max(0.0)..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("share of photos answered (coverage)")
            .y_desc("accuracy")
            .draw()
            .map_err(err)?;
        let points: Vec<(f64, f64)> = selective
            .curve
            .iter()
            .map(|p| (p.coverage, p.accuracy))
            .collect();
        chart
            .draw_series(LineSeries::new(points, BLUE.stroke_width(2)))
            .map_err(err)?
            .label("most confident first")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        let at = (selective.test_coverage, selective.test_accuracy_answered);
        chart
            .draw_series(std::iter::once(Circle::new(at, 6, RED.filled())))
            .map_err(err)?
            .label(format!("\"unsure\" below {:.2}", selective.threshold))
            .legend(|(x, y)| Circle::new((x + 9, y), 5, RED.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        Ok(())
    })
}
