//! A game clip's row: its two labels (from the game's data where it states one, else from
//! the teacher) and the columns that say where each came from; the CSVs the rows are
//! written to (`annotations`, `train`, `heldout`, `heldout-GAME`) and `music/shipped.csv`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::HELD_OUT_GAMES;
use super::clips::Clip;
use super::tracks::{Track, game_label};
use crate::corpus::cues::{quadrant, sign};
use crate::corpus::packages::Deb;
use crate::corpus::rendering::BOTH_CSV;
use crate::corpus::{ANNOTATION_COLUMNS, ANNOTATIONS, Ctx};
use crate::io;

/// The columns of `music/games/*.csv`.
pub const COLUMNS: [&str; 15] = [
    "Songs",
    "Quads",
    "Arousal",
    "Valence",
    "Game",
    "Package",
    "Track",
    "StartSeconds",
    "GameUsage",
    "ArousalSource",
    "ValenceSource",
    "TeacherValence",
    "TeacherEnergy",
    "Licence",
    "Seconds",
];
/// The label source of the rendered clips in `shipped.csv`: set by construction.
const RENDERED_SOURCE: &str = "rendered: the quadrant's cues, by construction";

/// A labelled clip.
pub(super) struct Row {
    pub game: &'static str,
    /// The game's own labels, where its data states one.
    pub game_arousal: Option<bool>,
    pub game_valence: Option<bool>,
    pub quadrant: usize,
    /// The values of [`COLUMNS`].
    pub record: [String; 15],
}

/// The row of clip `c` of track `t`, with the teacher's valence `tv` and energy `te`.
pub(super) fn label(deb: &Deb, t: &Track, c: &Clip, tv: f64, te: f64) -> Row {
    let ga = game_label(&t.cues, |c| c.arousal);
    let gv = game_label(&t.cues, |c| c.valence);
    let (game_arousal, game_valence) = (ga.as_ref().map(|g| g.0), gv.as_ref().map(|g| g.0));
    let (a, a_src) = ga.unwrap_or_else(|| (te > 0.5, format!("teacher:vibenet energy {te:.2}")));
    let (v, v_src) = gv.unwrap_or_else(|| (tv > 0.5, format!("teacher:vibenet valence {tv:.2}")));
    let q = quadrant(a, v);
    let usage: BTreeSet<&str> = t.cues.iter().map(|c| c.usage.as_str()).collect();
    let usage: Vec<&str> = usage.into_iter().collect();
    Row {
        game: t.game,
        game_arousal,
        game_valence,
        quadrant: q,
        record: [
            c.rel.clone(),
            format!("Q{q}"),
            sign(a).into(),
            sign(v).into(),
            t.game.into(),
            format!("{} {}", deb.name, deb.version),
            t.track.clone(),
            format!("{:.0}", c.start),
            usage.join("; "),
            a_src,
            v_src,
            format!("{tv:.6}"),
            format!("{te:.6}"),
            t.licence.clone(),
            format!("{:.2}", c.seconds),
        ],
    }
}

/// Writes every row to `annotations.csv`, the held-out games' to `heldout.csv` and their
/// own `heldout-GAME.csv`, the others to `train.csv`; returns the files, and the training
/// rows as `shipped.csv` lists them.
pub(super) fn write_splits(dir: &Path, rows: &[Row]) -> Result<(Vec<PathBuf>, Vec<[String; 6]>)> {
    let writer = || -> Result<csv::Writer<Vec<u8>>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(COLUMNS)?;
        Ok(w)
    };
    let (mut all, mut train, mut held) = (writer()?, writer()?, writer()?);
    let mut held_per_game = HELD_OUT_GAMES
        .iter()
        .map(|_| writer())
        .collect::<Result<Vec<_>>>()?;
    let mut shipped_games = Vec::new();
    for Row { game, record, .. } in rows {
        all.write_record(record)?;
        if let Some(g) = HELD_OUT_GAMES.iter().position(|h| h == game) {
            held.write_record(record)?;
            held_per_game[g].write_record(record)?;
        } else {
            train.write_record(record)?;
            let [song, q, a, v] = [0, 1, 2, 3].map(|i| record[i].clone());
            let [a_src, v_src] = [9, 10].map(|i| record[i].clone());
            shipped_games.push([format!("games/{song}"), q, a, v, a_src, v_src]);
        }
    }
    let held_files = HELD_OUT_GAMES
        .iter()
        .map(|g| format!("heldout-{g}.csv"))
        .zip(held_per_game);
    let mut files = Vec::new();
    for (name, w) in [
        (ANNOTATIONS.to_string(), all),
        ("train.csv".to_string(), train),
        ("heldout.csv".to_string(), held),
    ]
    .into_iter()
    .chain(held_files)
    {
        let p = dir.join(name);
        io::write_atomic(&p, &w.into_inner()?)?;
        files.push(p);
    }
    Ok((files, shipped_games))
}

/// music/shipped.csv: both.csv's rows, then the games' training clips, each saying who made
/// its labels (so that scores against people's labels leave the teacher's out). Returns
/// the file and the rows taken from both.csv.
pub(super) fn write_shipped(ctx: &Ctx, shipped_games: &[[String; 6]]) -> Result<(PathBuf, usize)> {
    let music = ctx.music_dir();
    let both = music.join(BOTH_CSV);
    let mut shipped = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = ANNOTATION_COLUMNS
        .into_iter()
        .chain(["ArousalSource", "ValenceSource"])
        .collect();
    shipped.write_record(&header)?;
    let mut r = csv::Reader::from_path(&both).with_context(|| format!("{}", both.display()))?;
    let mut n_both = 0usize;
    for rec in r.records() {
        let rec = rec.with_context(|| format!("{}", both.display()))?;
        let mut row: Vec<&str> = rec.iter().take(4).collect();
        row.extend([RENDERED_SOURCE, RENDERED_SOURCE]);
        shipped.write_record(&row)?;
        n_both += 1;
    }
    for rec in shipped_games {
        shipped.write_record(rec)?;
    }
    let sp = music.join("shipped.csv");
    io::write_atomic(&sp, &shipped.into_inner()?)?;
    Ok((sp, n_both))
}
