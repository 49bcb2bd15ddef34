//! SVG plots with plotters: training curves and confusion matrices.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

use crate::metrics::Confusion;
use crate::run::MetricsCsv;

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot draw the plot: {e}")
}

/// Train and validation loss per epoch from a run's metrics.csv (phases laid end to end).
pub fn training_curves(metrics_csv: &Path, out: &Path, title: &str) -> Result<()> {
    let metrics = MetricsCsv::read(metrics_csv)?;
    let (Some(tl), Some(vl)) = (metrics.column("train_loss"), metrics.column("val_loss")) else {
        return Err(anyhow!("{}: no loss columns", metrics_csv.display()));
    };
    let rows = &metrics.rows;
    // A short (damaged, or cut) row has no value there (NaN): a gap, not a panic.
    let points = |values: Vec<f64>| -> Vec<(f64, f64)> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| ((i + 1) as f64, v))
            .filter(|p| p.1.is_finite())
            .collect()
    };
    let (train, val) = (points(tl), points(vl));
    let finite = train
        .iter()
        .chain(&val)
        .map(|p| p.1)
        .filter(|x| x.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    if !lo.is_finite() {
        return Err(anyhow!("{}: no epochs yet", metrics_csv.display()));
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let root = SVGBackend::new(out, (640, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(1f64..(rows.len().max(2) as f64), (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("train")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
    chart
        .draw_series(LineSeries::new(val, RED.stroke_width(2)))
        .map_err(err)?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A confusion matrix as a heat map, each row normalised, with the counts written in.
pub fn confusion(c: &Confusion, out: &Path, title: &str) -> Result<()> {
    let n = c.labels.len();
    let cell = 80i32;
    let (left, top) = (70i32, 50i32);
    let size = (
        left as u32 + cell as u32 * n as u32 + 20,
        top as u32 + cell as u32 * n as u32 + 50,
    );
    let root = SVGBackend::new(out, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let text = |s: &str, x: i32, y: i32, size: i32| {
        Text::new(
            s.to_string(),
            (x, y),
            ("sans-serif", size).into_font().color(&BLACK),
        )
    };
    root.draw(&text(title, 10, 10, 16)).map_err(err)?;
    for (i, row) in c.counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        root.draw(&text(
            &c.labels[i],
            8,
            top + i as i32 * cell + cell / 2 - 6,
            13,
        ))
        .map_err(err)?;
        for (j, &v) in row.iter().enumerate() {
            let share = if total == 0 {
                0.0
            } else {
                v as f64 / total as f64
            };
            let shade = (255.0 * (1.0 - 0.75 * share)) as u8;
            let (x, y) = (left + j as i32 * cell, top + i as i32 * cell);
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                RGBColor(shade, shade, 255).filled(),
            ))
            .map_err(err)?;
            root.draw(&Rectangle::new(
                [(x, y), (x + cell, y + cell)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
            root.draw(&text(
                &format!("{v}"),
                x + cell / 2 - 12,
                y + cell / 2 - 7,
                14,
            ))
            .map_err(err)?;
        }
    }
    for (j, l) in c.labels.iter().enumerate() {
        root.draw(&text(
            l,
            left + j as i32 * cell + 8,
            top + n as i32 * cell + 8,
            13,
        ))
        .map_err(err)?;
    }
    root.draw(&text(
        "rows: truth; columns: prediction",
        left,
        top + n as i32 * cell + 28,
        12,
    ))
    .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_damaged_metrics_rows_are_gaps_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("metrics.csv");
        let svg = dir.path().join("curves.svg");
        std::fs::write(
            &csv,
            "phase,epoch,train_loss,val_loss,lr,seconds\n0,1,2.0,2.5,1e-3,3\n0,2\n0,3,x,1.5,1e-3,3\n",
        )
        .unwrap();
        training_curves(&csv, &svg, "t").unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        // Nothing to draw: one clear error.
        std::fs::write(&csv, "phase,epoch,train_loss,val_loss\n0,1\n").unwrap();
        let e = training_curves(&csv, &svg, "t").unwrap_err().to_string();
        assert!(e.contains("no epochs yet"), "{e}");
    }
}
