//! Music sets: songs with their quadrant, arousal and valence labels, read from an
//! annotation CSV (this project's layout, 4Q-emotion's or CH-818's) or a public corpus's
//! folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use mer::Quadrant;
use serde::{Deserialize, Serialize};

/// A song of a music set, with its labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Song {
    pub path: PathBuf,
    /// The value of the `Songs` column, as written.
    pub name: String,
    pub quadrant: Quadrant,
    pub arousal: bool,
    pub valence: bool,
    /// Whether each label was made by people (the default), or by a model: a CSV's
    /// optional `ArousalSource` / `ValenceSource` column starting with `teacher`. Scores
    /// against people's labels leave the others out.
    pub arousal_by_people: bool,
    pub valence_by_people: bool,
    /// A teacher model's (energy, valence) in [0, 1], from optional `TeacherEnergy` and
    /// `TeacherValence` columns: reported beside the models, never trained on here.
    pub teacher: Option<[f64; 2]>,
    /// People's continuous ratings of the whole song, (arousal, valence) on the corpus's own
    /// scale, where the corpus has them: kept beside the quadrant made from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratings: Option<[f64; 2]>,
    /// People's ratings over time, where the corpus has them: (seconds from the start of
    /// the audio file, arousal, valence), sorted by time; NaN where one is missing (null in
    /// JSON, as serde_json writes NaN).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "nan_for_null"
    )]
    pub dynamic: Vec<[f64; 3]>,
}

/// Reads back what serde_json writes for NaN (null) as NaN.
fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<[f64; 3]>, D::Error> {
    let rows: Vec<[Option<f64>; 3]> = Deserialize::deserialize(d)?;
    Ok(rows
        .into_iter()
        .map(|r| r.map(|x| x.unwrap_or(f64::NAN)))
        .collect())
}

impl Song {
    /// A song labelled by people from continuous ratings around `mapping`'s midpoint.
    pub fn from_ratings(
        path: PathBuf,
        name: String,
        ratings: [f64; 2],
        mapping: AvMapping,
    ) -> Self {
        let (a, v) = (ratings[0] > mapping.midpoint, ratings[1] > mapping.midpoint);
        Self {
            path,
            name,
            quadrant: Quadrant::from_signs(a, v),
            arousal: a,
            valence: v,
            arousal_by_people: true,
            valence_by_people: true,
            teacher: None,
            ratings: Some(ratings),
            dynamic: Vec::new(),
        }
    }
}

/// How continuous arousal/valence values map to quadrants.
#[derive(Debug, Clone, Copy)]
pub struct AvMapping {
    /// Values above the midpoint are positive.
    pub midpoint: f64,
}

/// A music set as given on the command line: an annotation CSV (this project's layout,
/// 4Q-emotion's or CH-818's), or the folder of a public corpus as it is unpacked (DEAM,
/// PMEmo, emoMusic; see [`crate::corpus::public`]).
pub fn read_music(path: &Path, mapping: AvMapping) -> Result<Vec<Song>> {
    if path.is_dir() {
        crate::corpus::public::read(path, mapping)
    } else {
        read_music_csv(path, mapping)
    }
}

/// The midpoint of continuous ratings in a music set when none is given: the scale's own
/// midpoint for a public corpus's folder, 0 for a CSV (CH-818's scale), the one its labels
/// were made with for a feature pack.
pub fn default_midpoint(path: &Path) -> Result<f64> {
    if super::is_pack(path) {
        return match super::pack::peek(path)? {
            super::pack::Corpus::Music { av_midpoint, .. } => Ok(av_midpoint),
            speech => bail!(
                "{}: a feature pack of {}, not of music",
                path.display(),
                speech.kind()
            ),
        };
    }
    if path.is_dir() {
        Ok(crate::corpus::public::Corpus::detect(path)?.midpoint())
    } else {
        Ok(0.0)
    }
}

/// Reads a music annotation CSV: the original columns `Songs` (path relative to the CSV's
/// folder), `Quads` (Q1..Q4) and optional `Arousal`/`Valence` (4Q-emotion's layout), or
/// `Songs` with continuous `Arousal` and `Valence` mapped to quadrants around a midpoint
/// (CH-818's layout). Optional `ArousalSource` / `ValenceSource` columns say who made each
/// label (`teacher...`: a model). Bad rows are reported with their row number and skipped.
pub fn read_music_csv(csv_path: &Path, mapping: AvMapping) -> Result<Vec<Song>> {
    let text = std::fs::read_to_string(csv_path)
        .with_context(|| format!("{}: cannot read", csv_path.display()))?;
    let base = csv_path.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no header row", csv_path.display()))?
        .clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)))
    };
    let song_col = find(&["Songs", "Song", "file", "path"]).with_context(|| {
        format!(
            "{}: no `Songs` column (columns: {})",
            csv_path.display(),
            headers.iter().collect::<Vec<_>>().join(", ")
        )
    })?;
    let quad_col = find(&["Quads", "Quad", "Quadrant"]);
    let a_col = find(&["Arousal"]);
    let v_col = find(&["Valence"]);
    let sources = [find(&["ArousalSource"]), find(&["ValenceSource"])];
    let teacher_cols = [find(&["TeacherEnergy"]), find(&["TeacherValence"])];
    if quad_col.is_none() && (a_col.is_none() || v_col.is_none()) {
        bail!(
            "{}: needs a `Quads` column, or `Arousal` and `Valence` columns",
            csv_path.display()
        );
    }
    let mut songs = Vec::new();
    let mut bad = 0usize;
    for (i, record) in reader.records().enumerate() {
        let row = i + 2; // 1-based, after the header
        let parsed = record.map_err(|e| anyhow::anyhow!("{e}")).and_then(|r| {
            let mut song = parse_row(&r, base, song_col, quad_col, a_col, v_col, mapping)?;
            let by_people = |c: Option<usize>| {
                !c.and_then(|c| r.get(c))
                    .is_some_and(|s| s.trim().to_ascii_lowercase().starts_with("teacher"))
            };
            song.arousal_by_people = by_people(sources[0]);
            song.valence_by_people = by_people(sources[1]);
            let value = |c: Option<usize>| {
                c.and_then(|c| r.get(c))
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|x| x.is_finite())
            };
            song.teacher = value(teacher_cols[0])
                .zip(value(teacher_cols[1]))
                .map(|(e, v)| [e, v]);
            Ok(song)
        });
        match parsed {
            Ok(song) => songs.push(song),
            Err(e) => {
                bad += 1;
                eprintln!("warning: {} row {row}: {e:#}; skipped", csv_path.display());
            }
        }
    }
    if bad > 0 {
        eprintln!(
            "{}: {bad} bad rows skipped, {} songs kept",
            csv_path.display(),
            songs.len()
        );
    }
    if songs.is_empty() {
        bail!("{}: no usable rows", csv_path.display());
    }
    Ok(songs)
}

fn parse_sign(value: &str, mapping: AvMapping) -> Result<bool> {
    let v = value.trim().to_ascii_lowercase();
    match v.as_str() {
        "positive" | "pos" | "high" | "+" | "true" => return Ok(true),
        "negative" | "neg" | "low" | "-" | "false" => return Ok(false),
        _ => {}
    }
    let x: f64 = v
        .parse()
        .map_err(|_| anyhow::anyhow!("unknown label {value:?}"))?;
    if !x.is_finite() {
        bail!("unknown label {value:?}");
    }
    Ok(x > mapping.midpoint)
}

fn parse_row(
    r: &csv::StringRecord,
    base: &Path,
    song_col: usize,
    quad_col: Option<usize>,
    a_col: Option<usize>,
    v_col: Option<usize>,
    mapping: AvMapping,
) -> Result<Song> {
    let name = r.get(song_col).unwrap_or("").to_string();
    if name.is_empty() {
        bail!("empty `Songs` value");
    }
    let rel = name.strip_prefix("./").unwrap_or(&name);
    let path = base.join(rel);
    if !path.is_file() {
        bail!("missing file {}", path.display());
    }
    let field = |c: Option<usize>| c.and_then(|c| r.get(c)).filter(|s| !s.is_empty());
    let (quadrant, arousal, valence) = match field(quad_col) {
        Some(q) => {
            let q: Quadrant = q.parse().map_err(|e: String| anyhow::anyhow!(e))?;
            // Arousal/valence columns, when present, must agree with the quadrant.
            let a = match field(a_col) {
                Some(a) if quad_col.is_some() && a_col.is_some() => {
                    parse_sign(a, mapping).unwrap_or(q.arousal_positive())
                }
                _ => q.arousal_positive(),
            };
            let v = match field(v_col) {
                Some(v) => parse_sign(v, mapping).unwrap_or(q.valence_positive()),
                None => q.valence_positive(),
            };
            if a != q.arousal_positive() || v != q.valence_positive() {
                bail!("arousal/valence disagree with quadrant {q}");
            }
            (q, a, v)
        }
        None => {
            let (a, v) = (
                field(a_col).context("no arousal value")?,
                field(v_col).context("no valence value")?,
            );
            let number = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
            if let (Some(a), Some(v)) = (number(a), number(v)) {
                return Ok(Song::from_ratings(path, name, [a, v], mapping));
            }
            let (a, v) = (parse_sign(a, mapping)?, parse_sign(v, mapping)?);
            (Quadrant::from_signs(a, v), a, v)
        }
    };
    Ok(Song {
        path,
        name,
        quadrant,
        arousal,
        valence,
        arousal_by_people: true,
        valence_by_people: true,
        teacher: None,
        ratings: None,
        dynamic: Vec::new(),
    })
}
