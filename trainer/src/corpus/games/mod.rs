//! Stage `music-games` of `trainer corpus demo`: real recorded game music from Debian
//! packages, labelled per clip from the games' own data files (which track a game plays in
//! which situation: battle or peace, won or lost) and, for the dimension a game says
//! nothing about, by a teacher model (vibenet 0.1.0, run once per clip in its own Python
//! process at corpus-build time).
//!
//! Every game cue is read at build time from the game's data (playlists, configuration,
//! scripts); a track's title is never used. Each label names its source in the CSV
//! (`ArousalSource`, `ValenceSource`: `game:PACKAGE FILE WHAT` or `teacher:vibenet ...`).
//!
//! Outputs: DIR/music/games/{annotations,train,heldout,heldout-GAME}.csv and audio/GAME/*.wav, and
//! DIR/music/shipped.csv (music/both.csv plus the games' training clips).
//!
//! Here: the games and the stage's steps. The games' data: [`data_files`] (parsers),
//! [`tracks`], [`strategy`] and [`racing`] (each game's labelled tracks); then [`clips`],
//! [`teacher`], [`rows`] (labels and CSVs), [`tally`] (statistics) and [`report`].

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use super::Ctx;
use super::packages::fetch_deb;
use super::stages::Produced;

mod clips;
mod data_files;
mod racing;
mod report;
mod rows;
mod strategy;
mod tally;
mod teacher;
mod tracks;

pub use report::{package_minutes, report};
pub use rows::COLUMNS;

use clips::Clip;
use tracks::Track;

pub(super) const STAGE: &str = "music-games";
pub(super) const DIR: &str = "music/games";

/// The games whose clips form `heldout.csv` (and each its own `heldout-GAME.csv`); every
/// other game is in `train.csv`. Their arousal labels come from the game: 0 A.D.'s peace
/// vs battle music states, UFO:AI's geoscape vs battlescape/aircombat playlists (ambient
/// tactical music, whose label the teacher disagrees with: the harder test).
pub const HELD_OUT_GAMES: [&str; 2] = ["0ad", "ufoai"];

/// A game: its id (folder name), its name, the packages holding its music and data, and
/// whether `--small` uses it (small packages only).
struct Game {
    id: &'static str,
    name: &'static str,
    packages: &'static [&'static str],
    small: bool,
}

const GAMES: &[Game] = &[
    Game {
        id: "ufoai",
        name: "UFO: Alien Invasion",
        packages: &["ufoai-music", "ufoai-common"],
        small: false,
    },
    Game {
        id: "0ad",
        name: "0 A.D.",
        packages: &["0ad-data"],
        small: false,
    },
    Game {
        id: "supertuxkart",
        name: "SuperTuxKart",
        packages: &["supertuxkart-data"],
        small: false,
    },
    Game {
        id: "wesnoth",
        name: "The Battle for Wesnoth",
        packages: &["wesnoth-1.16-music", "wesnoth-1.16-data"],
        small: false,
    },
    Game {
        id: "extremetuxracer",
        name: "Extreme Tux Racer",
        packages: &["extremetuxracer-data"],
        small: true,
    },
    Game {
        id: "singularity",
        name: "Endgame: Singularity",
        packages: &["singularity-music", "singularity"],
        small: true,
    },
    Game {
        id: "colobot",
        name: "Colobot: Gold Edition",
        packages: &["colobot-common-sounds", "colobot-common"],
        small: true,
    },
];

fn games(small: bool) -> impl Iterator<Item = &'static Game> {
    GAMES.iter().filter(move |g| g.small || !small)
}

/// Fetches the games' packages (added to `ctx.debs`, so the report lists them) and builds
/// the teacher's virtual environment. Runs after the other stages, so their keys do not
/// depend on these packages.
pub(super) fn prepare(ctx: &mut Ctx) -> Result<()> {
    for g in games(ctx.plan.small) {
        for &name in g.packages {
            if !ctx.debs.contains_key(name) {
                let deb = fetch_deb(ctx, name)?;
                ctx.debs.insert(name.to_string(), deb);
            }
        }
    }
    ctx.teacher_wheels = teacher::ensure_teacher(ctx)?;
    Ok(())
}

/// What the stage's key adds to the common one: the teacher (script and wheels).
pub(super) fn key_extra(ctx: &Ctx) -> String {
    format!(
        "{} {} held out: {:?}",
        teacher::teacher_key(),
        ctx.teacher_wheels.len(),
        HELD_OUT_GAMES
    )
}

pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let dir = ctx.out.join(DIR);
    std::fs::create_dir_all(&dir)?;
    let per_track = ctx.plan.games_clips_per_track();
    let tracks = labelled_tracks(ctx)?;
    eprintln!("  {} labelled tracks; decoding", tracks.len());
    let (clips, silent) = cut_all(&dir, &tracks, per_track)?;
    let mut files: Vec<PathBuf> = clips.iter().map(|c| dir.join(&c.rel)).collect();
    let scores = teacher::teacher_scores(ctx, &files)?;
    let mut tally = tally::Tally::default();
    let mut labelled = Vec::new();
    for (c, &(tv, te)) in clips.iter().zip(&scores) {
        let t = &tracks[c.track];
        let row = rows::label(&ctx.debs[&t.package], t, c, tv, te);
        tally.add(t, c, &row, tv, te);
        labelled.push(row);
    }
    let (csvs, shipped_games) = rows::write_splits(&dir, &labelled)?;
    files.extend(csvs);
    let (shipped, n_both) = rows::write_shipped(ctx, &shipped_games)?;
    files.push(shipped);
    let stats = tally.stats(
        games(ctx.plan.small),
        &tracks,
        &clips,
        silent,
        per_track,
        (n_both, shipped_games.len()),
    );
    Ok((files, stats))
}

/// Every game's labelled tracks, in the order of [`GAMES`].
fn labelled_tracks(ctx: &Ctx) -> Result<Vec<Track>> {
    let mut tracks = Vec::new();
    for g in games(ctx.plan.small) {
        let t = tracks::tracks_of(ctx, g.id).with_context(|| g.name.to_string())?;
        if t.is_empty() {
            bail!("{}: its data gave no labelled track", g.name);
        }
        tracks.extend(t);
    }
    Ok(tracks)
}

/// The clips of every track (decoded in parallel), and how many were skipped as silent.
fn cut_all(dir: &Path, tracks: &[Track], per_track: usize) -> Result<(Vec<Clip>, usize)> {
    let stems = clips::stems(tracks);
    let cut: Vec<Result<(Vec<Clip>, usize)>> = tracks
        .par_iter()
        .enumerate()
        .map(|(i, t)| clips::cut(dir, i, t, &stems[i], per_track))
        .collect();
    let mut clips = Vec::new();
    let mut silent = 0usize;
    for r in cut {
        let (c, s) = r?;
        clips.extend(c);
        silent += s;
    }
    Ok((clips, silent))
}
