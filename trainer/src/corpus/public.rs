//! The field's public music-emotion corpora, read from their folders as they are unpacked:
//! DEAM, PMEmo and emoMusic (the "1000 songs" set). Each song's static ratings become its
//! quadrant around the corpus's own scale midpoint (or `--av-midpoint`) and are kept, with
//! the dynamic (2 Hz) ratings, so that evaluation can correlate the model with them.
//!
//! What each corpus holds, as published (folder names vary between copies; the files are
//! found anywhere under the folder given):
//! - DEAM: `static_annotations_averaged_songs_1_2000.csv` and `..._2000_2058.csv`
//!   (`song_id, valence_mean, valence_std, arousal_mean, arousal_std`, with spaces after
//!   the commas; 1-9 scale), `dynamic (per second annotations)/arousal.csv` and
//!   `valence.csv` (`song_id, sample_15000ms, ...`), audio `MEMD_audio/<id>.mp3`.
//! - PMEmo: `annotations/static_annotations.csv` (`musicId,Arousal(mean),Valence(mean)`;
//!   0-1), `annotations/dynamic_annotations.csv` (`musicId,frameTime,Arousal(mean),
//!   Valence(mean)`), audio `chorus/<id>.mp3`.
//! - emoMusic: `static_annotations.csv` (`song_id,mean_arousal,std_arousal,mean_valence,
//!   std_valence`; 1-9; the 744 songs kept by its authors), `arousal_cont_average.csv` and
//!   `valence_cont_average.csv` (`song_id,sample_15000ms,...`), audio
//!   `clips_45seconds/<id>.mp3`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::data::{self, AvMapping, Song};

/// A public corpus's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    Deam,
    Pmemo,
    EmoMusic,
}

/// Where a corpus keeps its ratings over time.
enum Dynamic {
    /// One file per dimension, a row per song, a `sample_<ms>ms` column per instant.
    Wide { arousal: PathBuf, valence: PathBuf },
    /// One file, a row per song and instant (`frameTime` in seconds).
    Long(PathBuf),
}

/// The annotation files found in a corpus folder.
struct Layout {
    corpus: Corpus,
    statics: Vec<PathBuf>,
    dynamic: Option<Dynamic>,
}

fn lower_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a path lies in the per-rater part of DEAM (not the averages).
fn per_rater(p: &Path) -> bool {
    p.to_string_lossy().to_ascii_lowercase().contains("rater")
}

impl Corpus {
    pub fn name(self) -> &'static str {
        match self {
            Corpus::Deam => "DEAM",
            Corpus::Pmemo => "PMEmo",
            Corpus::EmoMusic => "emoMusic",
        }
    }

    /// The middle of the scale of the static ratings: 1-9 (DEAM, emoMusic), 0-1 (PMEmo).
    pub fn midpoint(self) -> f64 {
        match self {
            Corpus::Deam | Corpus::EmoMusic => 5.0,
            Corpus::Pmemo => 0.5,
        }
    }

    /// Folders that hold the audio in the published layout, preferred when a song's file
    /// name occurs twice.
    fn audio_folder(self) -> &'static str {
        match self {
            Corpus::Deam => "memd_audio",
            Corpus::Pmemo => "chorus",
            Corpus::EmoMusic => "clips_45seconds",
        }
    }

    /// Which corpus a folder holds, from the annotation files inside it.
    pub fn detect(root: &Path) -> Result<Corpus> {
        Ok(Self::layout(root)?.corpus)
    }

    fn layout(root: &Path) -> Result<Layout> {
        let csvs = data::files_under(root, |p| lower_name(p).ends_with(".csv"))?;
        let named = |name: &str| {
            csvs.iter()
                .filter(|p| lower_name(p) == name && !per_rater(p))
                .cloned()
                .collect::<Vec<_>>()
        };
        let deam: Vec<PathBuf> = csvs
            .iter()
            .filter(|p| {
                lower_name(p).starts_with("static_annotations_averaged_songs") && !per_rater(p)
            })
            .cloned()
            .collect();
        if !deam.is_empty() {
            let in_dynamic = |name: &str| {
                named(name)
                    .into_iter()
                    .find(|p| p.to_string_lossy().to_ascii_lowercase().contains("dynamic"))
            };
            let dynamic = in_dynamic("arousal.csv")
                .zip(in_dynamic("valence.csv"))
                .map(|(arousal, valence)| Dynamic::Wide { arousal, valence });
            return Ok(Layout {
                corpus: Corpus::Deam,
                statics: deam,
                dynamic,
            });
        }
        for file in named("static_annotations.csv") {
            let (_, header) = reader(&file)?;
            if column(&header, &["musicId"]).is_some() {
                return Ok(Layout {
                    corpus: Corpus::Pmemo,
                    statics: vec![file],
                    dynamic: named("dynamic_annotations.csv")
                        .into_iter()
                        .next()
                        .map(Dynamic::Long),
                });
            }
            if column(&header, &["song_id"]).is_some() {
                let wide = named("arousal_cont_average.csv")
                    .into_iter()
                    .next()
                    .zip(named("valence_cont_average.csv").into_iter().next());
                return Ok(Layout {
                    corpus: Corpus::EmoMusic,
                    statics: vec![file],
                    dynamic: wide.map(|(arousal, valence)| Dynamic::Wide { arousal, valence }),
                });
            }
        }
        bail!(
            "{}: not a DEAM, PMEmo or emoMusic folder (no static_annotations_averaged_songs_*.csv \
             or static_annotations.csv with a song_id or musicId column inside); give an \
             annotation CSV or one of these folders",
            root.display()
        )
    }
}

/// The column of the first of `names` (case-insensitive) in `header`.
fn column(header: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| header.iter().position(|h| h.trim().eq_ignore_ascii_case(n)))
}

const ID: &[&str] = &["song_id", "musicId", "song id", "id"];
const AROUSAL: &[&str] = &["arousal_mean", "mean_arousal", "Arousal(mean)", "arousal"];
const VALENCE: &[&str] = &["valence_mean", "mean_valence", "Valence(mean)", "valence"];

fn reader(csv: &Path) -> Result<(csv::Reader<std::fs::File>, csv::StringRecord)> {
    let mut r = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_path(csv)
        .with_context(|| format!("{}: cannot read", csv.display()))?;
    let header = r
        .headers()
        .with_context(|| format!("{}: no header row", csv.display()))?
        .clone();
    Ok((r, header))
}

fn missing_column(csv: &Path, what: &str, header: &csv::StringRecord) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: no {what} column (columns: {})",
        csv.display(),
        header.iter().collect::<Vec<_>>().join(", ")
    )
}

fn number(r: &csv::StringRecord, c: usize) -> Option<f64> {
    r.get(c)
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|x| x.is_finite())
}

/// A song id as written (`2`, `2.0` and ` 2` are one id).
fn id_of(r: &csv::StringRecord, c: usize) -> Option<String> {
    let s = r.get(c)?.trim();
    if s.is_empty() {
        return None;
    }
    Some(match s.parse::<f64>() {
        Ok(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        _ => s.to_string(),
    })
}

/// Static ratings by song id, in file order: (arousal, valence).
fn read_static(csv: &Path, bad: &mut usize) -> Result<Vec<(String, [f64; 2])>> {
    let (mut r, header) = reader(csv)?;
    let id = column(&header, ID).ok_or_else(|| missing_column(csv, "song id", &header))?;
    let a = column(&header, AROUSAL).ok_or_else(|| missing_column(csv, "arousal", &header))?;
    let v = column(&header, VALENCE).ok_or_else(|| missing_column(csv, "valence", &header))?;
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let row = rec
            .ok()
            .and_then(|rec| Some((id_of(&rec, id)?, [number(&rec, a)?, number(&rec, v)?])));
        match row {
            Some(x) => out.push(x),
            None => {
                *bad += 1;
                eprintln!(
                    "warning: {} row {}: no song id or no arousal/valence number; skipped",
                    csv.display(),
                    i + 2
                );
            }
        }
    }
    Ok(out)
}

/// The seconds of a `sample_15000ms` column.
fn sample_seconds(name: &str) -> Option<f64> {
    let ms = name
        .trim()
        .to_ascii_lowercase()
        .strip_prefix("sample_")?
        .strip_suffix("ms")?
        .parse::<f64>()
        .ok()?;
    (ms.is_finite() && ms >= 0.0).then_some(ms / 1000.0)
}

/// Ratings over time by song id: (seconds, value) per dimension.
type Series = HashMap<String, Vec<(f64, f64)>>;

fn read_wide(csv: &Path) -> Result<Series> {
    let (mut r, header) = reader(csv)?;
    let id = column(&header, ID).ok_or_else(|| missing_column(csv, "song id", &header))?;
    let times: Vec<(usize, f64)> = header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| sample_seconds(h).map(|t| (i, t)))
        .collect();
    if times.is_empty() {
        bail!("{}: no sample_<ms>ms columns", csv.display());
    }
    let mut out = Series::new();
    for rec in r.records().flatten() {
        let Some(song) = id_of(&rec, id) else {
            continue;
        };
        let values: Vec<(f64, f64)> = times
            .iter()
            .filter_map(|&(c, t)| number(&rec, c).map(|x| (t, x)))
            .collect();
        out.insert(song, values);
    }
    Ok(out)
}

fn read_long(csv: &Path) -> Result<(Series, Series)> {
    let (mut r, header) = reader(csv)?;
    let id = column(&header, ID).ok_or_else(|| missing_column(csv, "song id", &header))?;
    let t = column(&header, &["frameTime", "time"])
        .ok_or_else(|| missing_column(csv, "frameTime", &header))?;
    let a = column(&header, AROUSAL).ok_or_else(|| missing_column(csv, "arousal", &header))?;
    let v = column(&header, VALENCE).ok_or_else(|| missing_column(csv, "valence", &header))?;
    let (mut arousal, mut valence) = (Series::new(), Series::new());
    for rec in r.records().flatten() {
        let (Some(song), Some(time)) = (id_of(&rec, id), number(&rec, t)) else {
            continue;
        };
        if let Some(x) = number(&rec, a) {
            arousal.entry(song.clone()).or_default().push((time, x));
        }
        if let Some(x) = number(&rec, v) {
            valence.entry(song).or_default().push((time, x));
        }
    }
    Ok((arousal, valence))
}

/// (seconds, arousal, valence) rows from the two series, sorted by time, NaN where one
/// dimension has no value at that instant.
fn merge(arousal: Option<&Vec<(f64, f64)>>, valence: Option<&Vec<(f64, f64)>>) -> Vec<[f64; 3]> {
    // Instants keyed in microseconds, so that 15.5 s from two files is one instant.
    let mut rows: BTreeMap<i64, [f64; 3]> = BTreeMap::new();
    let key = |t: f64| (t * 1e6).round() as i64;
    for (dim, series) in [(1, arousal), (2, valence)] {
        for &(t, x) in series.into_iter().flatten() {
            rows.entry(key(t)).or_insert([t, f64::NAN, f64::NAN])[dim] = x;
        }
    }
    rows.into_values().collect()
}

/// The audio of each song id: `<id>.<audio extension>` anywhere under `root` (as
/// `data::scan_audio` finds it), from the published audio folder when the name occurs more
/// than once.
fn audio_files(root: &Path, corpus: Corpus) -> Result<HashMap<String, PathBuf>> {
    let mut audio: HashMap<String, PathBuf> = HashMap::new();
    let published = |p: &Path| {
        p.parent()
            .is_some_and(|d| lower_name(d) == corpus.audio_folder())
    };
    for path in data::scan_audio(root)? {
        let Some(stem) = path.file_stem().map(|s| s.to_string_lossy().into_owned()) else {
            continue;
        };
        let better = audio
            .get(&stem)
            .is_none_or(|old| !published(old) && published(&path));
        if better {
            audio.insert(stem, path);
        }
    }
    Ok(audio)
}

/// The songs of a corpus folder: those with static ratings and an audio file.
pub fn read(root: &Path, mapping: AvMapping) -> Result<Vec<Song>> {
    let layout = Corpus::layout(root)?;
    let corpus = layout.corpus;
    let mut bad = 0usize;
    let mut ratings = Vec::new();
    for file in &layout.statics {
        ratings.extend(read_static(file, &mut bad)?);
    }
    let (arousal, valence) = match &layout.dynamic {
        Some(Dynamic::Wide { arousal, valence }) => (read_wide(arousal)?, read_wide(valence)?),
        Some(Dynamic::Long(file)) => read_long(file)?,
        None => (Series::new(), Series::new()),
    };
    let audio = audio_files(root, corpus)?;
    let (mut songs, mut no_audio) = (Vec::new(), Vec::new());
    let mut seen = std::collections::HashSet::new();
    for (id, r) in ratings {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(path) = audio.get(&id) else {
            no_audio.push(id);
            continue;
        };
        let name = path
            .strip_prefix(root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned();
        let mut song = Song::from_ratings(path.clone(), name, r, mapping);
        song.dynamic = merge(arousal.get(&id), valence.get(&id));
        songs.push(song);
    }
    if !no_audio.is_empty() {
        eprintln!(
            "warning: {}: {} rated songs have no audio file ({}/<id>.mp3), e.g. id {}; skipped",
            root.display(),
            no_audio.len(),
            corpus.audio_folder(),
            no_audio[0]
        );
    }
    if songs.is_empty() {
        bail!(
            "{}: {} annotations found ({}), but no song with both ratings and audio",
            root.display(),
            corpus.name(),
            layout
                .statics
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let dynamic = songs.iter().filter(|s| !s.dynamic.is_empty()).count();
    eprintln!(
        "{}: {} songs ({} with ratings over time); quadrants around {}{}",
        corpus.name(),
        songs.len(),
        dynamic,
        mapping.midpoint,
        if bad > 0 {
            format!("; {bad} bad rows skipped")
        } else {
            String::new()
        }
    );
    Ok(songs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_columns_and_ids() {
        assert_eq!(sample_seconds("sample_15000ms"), Some(15.0));
        assert_eq!(sample_seconds(" sample_15500ms"), Some(15.5));
        assert_eq!(sample_seconds("song_id"), None);
        assert_eq!(sample_seconds("sample_-5ms"), None);
        let rec = csv::StringRecord::from(vec![" 2", "2.0", "a7", ""]);
        assert_eq!(id_of(&rec, 0).as_deref(), Some("2"));
        assert_eq!(id_of(&rec, 1).as_deref(), Some("2"));
        assert_eq!(id_of(&rec, 2).as_deref(), Some("a7"));
        assert_eq!(id_of(&rec, 3), None);
    }

    #[test]
    fn series_merge_by_instant() {
        let a = vec![(15.0, 0.1), (15.5, 0.2)];
        let v = vec![(15.5, -0.3), (16.0, 0.4)];
        let m = merge(Some(&a), Some(&v));
        assert_eq!(m.len(), 3);
        assert_eq!(m[0][0], 15.0);
        assert!(m[0][2].is_nan());
        assert_eq!(m[1], [15.5, 0.2, -0.3]);
        assert!(m[2][1].is_nan());
    }
}
