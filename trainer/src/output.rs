//! Printing predictions (table, JSON, CSV) and model metadata.

use std::path::{Path, PathBuf};

use mer::{ModelFile, ModelMeta, Quadrant, SongPrediction};
use serde_json::json;

pub fn print_table(path: &Path, meta: &ModelMeta, p: &SongPrediction) {
    let duration = p.segments.last().map_or(0.0, |s| s.end);
    println!(
        "{}  ({} patches, {:.1} s, model {})",
        path.display(),
        p.segments.len(),
        duration,
        meta.variant.title()
    );
    println!("  quadrant  {}  {}", p.quadrant, p.quadrant.description());
    let probs: Vec<String> = Quadrant::ALL
        .iter()
        .map(|q| format!("{q} {:.3}", p.probabilities[q.index()]))
        .collect();
    println!("  P         {}", probs.join("  "));
    println!(
        "  P(arousal+) {:.3}   P(valence+) {:.3}",
        p.arousal, p.valence
    );
    println!("  segments  (start s: quadrant)");
    for line in p.segments.chunks(8) {
        let cells: Vec<String> = line
            .iter()
            .map(|s| format!("{:7.2}: {}", s.start, s.quadrant))
            .collect();
        println!("   {}", cells.join(" "));
    }
    println!();
}

fn quadrant_map(p: &[f32; 4]) -> serde_json::Value {
    json!({"Q1": p[0], "Q2": p[1], "Q3": p[2], "Q4": p[3]})
}

/// One JSON object per song, in an array.
pub fn json(meta: &ModelMeta, results: &[(PathBuf, SongPrediction)]) -> String {
    let songs: Vec<serde_json::Value> = results
        .iter()
        .map(|(path, p)| {
            json!({
                "file": path.display().to_string(),
                "model": meta.variant.title(),
                "quadrant": p.quadrant.name(),
                "description": p.quadrant.description(),
                "probabilities": quadrant_map(&p.probabilities),
                "arousal": p.arousal,
                "valence": p.valence,
                "segments": p.segments.iter().map(|s| json!({
                    "start": s.start,
                    "end": s.end,
                    "quadrant": s.quadrant.name(),
                    "probabilities": quadrant_map(&s.probabilities),
                    "arousal": s.arousal,
                    "valence": s.valence,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&songs).expect("JSON of plain values")
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One row per song (`level` = song) and one per patch (`level` = segment).
pub fn csv(results: &[(PathBuf, SongPrediction)]) -> String {
    let mut out = String::from("file,level,start,end,quadrant,q1,q2,q3,q4,arousal,valence\n");
    for (path, p) in results {
        let file = csv_field(&path.display().to_string());
        let end = p.segments.last().map_or(0.0, |s| s.end);
        let pr = &p.probabilities;
        out += &format!(
            "{file},song,0.000,{end:.3},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            p.quadrant, pr[0], pr[1], pr[2], pr[3], p.arousal, p.valence
        );
        for s in &p.segments {
            let pr = &s.probabilities;
            out += &format!(
                "{file},segment,{:.3},{:.3},{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
                s.start, s.end, s.quadrant, pr[0], pr[1], pr[2], pr[3], s.arousal, s.valence
            );
        }
    }
    out
}

pub fn print_meta(path: &Path, size: u64, file: &ModelFile) {
    let m = &file.meta;
    println!("{}", path.display());
    println!("  model        {}", m.variant.title());
    println!("  method       {}", m.variant.method.label());
    // A list, or "-" when empty.
    let list = |v: &[String], sep: &str| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(sep)
        }
    };
    println!(
        "  pretrained   {}",
        list(&m.variant.pretrain_languages, " + ")
    );
    println!("  transfer     {}", m.variant.mode.label());
    println!("  music        {}", list(&m.variant.music, ", "));
    println!(
        "  weights      {:?}, {:.2} MB file ({} bytes)",
        m.precision,
        size as f64 / 1e6,
        size
    );
    println!(
        "  architecture {} (format version {})",
        m.architecture,
        mer::model_file::FORMAT_VERSION
    );
    let r = &m.recipe;
    println!(
        "  features     {} Hz, n_fft {}, window {}, hop {}, {} mel bands ({}), ln(S + {:.3e}), patches of {} frames every {}",
        r.sample_rate,
        r.n_fft,
        r.win_length,
        r.hop_length,
        r.n_mels,
        r.mel_scale,
        r.log_eps,
        r.patch_frames,
        r.patch_hop
    );
    println!("  labels       quadrant {:?}", m.labels.quadrant);
    if !m.metrics.is_null() {
        println!("  metrics      {}", m.metrics);
    }
    if !m.training.is_null() {
        println!("  training     {}", m.training);
    }
    println!("  written by   {}", m.writer);
}
