//! Corpora: `trainer corpus demo`, which builds stand-in corpora for the paper's
//! experiments from openly licensed material that Debian and PyPI ship (no package anywhere
//! ships speech in hours per language or music labelled with emotion, so this assembles
//! them), and [`public`], which reads the field's public music-emotion corpora (DEAM, PMEmo,
//! emoMusic) from their folders.
//!
//! What the demo writes, and the file that builds it:
//!
//! - `speech/eng` ([`speech_eng`]): real English recordings (pocketsphinx-testdata's
//!   LibriVox clips, asterisk-core-sounds-en-wav, codec2-examples, fillets-ng-data's English
//!   dialogue) topped up with text-to-speech (festival's HTS and diphone voices, espeak-ng
//!   `en-us`) over fortune-mod's English texts ([`text`]) at varied speaking rates;
//! - `speech/man` ([`speech_man`]): gcin-voice's real recordings of every Mandarin syllable
//!   (two speakers) concatenated along real Chinese text (fortunes-zh, converted to zhuyin
//!   with pypinyin), topped up with espeak-ng's Mandarin (`cmn-latn-pinyin`, tone-numbered
//!   pinyin);
//! - `music/western`, `music/chinese` ([`melodies`], [`cues`], [`arrange`], [`rendering`]):
//!   real melodies (music21's Bach chorales and Essen folk tunes; Han Chinese tunes)
//!   rendered through a General MIDI soundfont with the emotional cues of each quadrant
//!   controlled (tempo, mode, loudness, articulation, register, timbre, dissonance),
//!   balanced, in 30-s clips;
//! - `music/real` ([`music_real`]): Wesnoth's recorded soundtrack cut into 30-s clips,
//!   labelled from the track titles in a reviewable CSV;
//! - `music/games` ([`games`]): real recorded game music (UFO:AI, 0 A.D., SuperTuxKart,
//!   Wesnoth, Extreme Tux Racer, Singularity, Colobot) labelled from the games' own data
//!   files (which track plays in battle or peace, on victory or defeat) and, for the
//!   dimension a game says nothing about, by a teacher model (vibenet);
//! - `CORPORA.md` and `corpus.json` ([`report`]): every source with its version, licence,
//!   SHA-256, size and minutes used; how labels were made; the time of each stage.
//!
//! Downloads (Debian packages via `apt-get download`, [`packages`]; PyPI wheels,
//! [`python`]) are cached and their SHA-256 checked against the signed apt index (Debian) or
//! pinned values (PyPI). Each stage writes a stamp ([`stages`]); a second run with the same
//! settings skips finished stages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

mod arrange;
mod audio;
mod cues;
mod games;
mod melodies;
mod music_real;
mod packages;
pub mod public;
mod python;
mod rendering;
mod report;
mod speech;
mod speech_eng;
mod speech_man;
mod stages;
mod text;

use packages::{Deb, Tool};
use python::Wheel;
use stages::stage;

/// Bumped whenever the output of a stage changes for the same inputs.
const CORPUS_VERSION: u32 = 3;
/// Sample rate of the speech written (the paper's feature rate).
const SPEECH_RATE: u32 = 16_000;
/// Sample rate of the music clips.
const MUSIC_RATE: u32 = 22_050;
const CLIP_SECONDS: f64 = 30.0;

/// The columns of every music annotation CSV the demo writes, first in each row (the
/// original 4Q-emotion layout that `trainer` reads).
const ANNOTATION_COLUMNS: [&str; 4] = ["Songs", "Quads", "Arousal", "Valence"];
/// The annotation CSV of a music folder.
const ANNOTATIONS: &str = "annotations.csv";
/// The columns of `music/games/*.csv`: see [`games`].
pub use games::COLUMNS as GAME_COLUMNS;

/// The folder of the music sets, relative to the output folder.
const MUSIC: &str = "music";

#[derive(clap::Subcommand, Debug)]
pub enum CorpusCommand {
    /// Build the demo corpora: English and Mandarin speech (>= 3 h each; real recordings
    /// from Debian packages topped up with text-to-speech), two quadrant-labelled music sets
    /// rendered from real melodies with controlled emotional cues (western, chinese), and
    /// Wesnoth's recorded music labelled from its track titles, and recorded game music
    /// labelled from the games' own data files plus a teacher model. Writes DIR/CORPORA.md
    /// (sources, licences, checksums, minutes, how labels were made). Downloads are cached
    /// and checksummed; finished stages are skipped on a second run.
    ///
    /// Layout: DIR/speech/eng, DIR/speech/man, DIR/music/western/annotations.csv,
    /// DIR/music/chinese/annotations.csv, DIR/music/both.csv (the two sets in one CSV),
    /// DIR/music/real/annotations.csv, DIR/music/games/{annotations,train,heldout,heldout-0ad,heldout-ufoai}.csv
    /// (held out: every clip of 0 A.D. and of UFO:AI), DIR/music/shipped.csv (both.csv plus the games'
    /// training clips); so
    /// `trainer reproduce --speech-en DIR/speech/eng --speech-man DIR/speech/man
    /// --music-en DIR/music/western/annotations.csv --music-man
    /// DIR/music/chinese/annotations.csv` runs on it directly. Needs Debian's apt (the
    /// packages are fetched with `apt-get download`; espeak-ng and festival are installed
    /// with `apt-get install` when missing, which needs root) and python3 (CPython 3.11
    /// for the teacher's pinned wheels) with venv.
    Demo {
        /// Output folder
        #[arg(long)]
        out: PathBuf,
        /// A few minutes of everything (about 3 min of speech per language, 12 clips per
        /// quadrant per music set): for tests and CI
        #[arg(long)]
        small: bool,
        /// Download cache (default: ~/.cache/mer/downloads, or $MER_CACHE/downloads)
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

pub fn run(cmd: CorpusCommand) -> Result<()> {
    match cmd {
        CorpusCommand::Demo { out, small, cache } => {
            let cache = cache.unwrap_or_else(default_cache);
            demo(&out, &cache, small)
        }
    }
}

fn default_cache() -> PathBuf {
    if let Some(c) = std::env::var_os("MER_CACHE") {
        return PathBuf::from(c).join("downloads");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache/mer/downloads")
}

/// The sizes of a build.
#[derive(Debug, Clone, Copy, Serialize)]
struct Plan {
    small: bool,
    /// Seconds of speech per language.
    speech_seconds: f64,
    /// Seconds of gcin-voice concatenations within the Mandarin speech.
    gcin_seconds: f64,
    /// Cap on seconds taken from each real English source.
    real_cap_seconds: f64,
    /// Rendered clips per quadrant per music set.
    clips_per_quadrant: usize,
    /// Real music: at most this many clips per track.
    real_clips_per_track: usize,
    /// Chinese sentences converted to pinyin.
    sentences: usize,
}

impl Plan {
    /// Game music (stage music-games): at most this many clips per track. A method, not a
    /// field, so that the other stages' keys (which hash the plan) stay as they were.
    fn games_clips_per_track(&self) -> usize {
        if self.small { 1 } else { 4 }
    }

    fn new(small: bool) -> Self {
        if small {
            Plan {
                small,
                speech_seconds: 190.0,
                gcin_seconds: 90.0,
                real_cap_seconds: 25.0,
                clips_per_quadrant: 12,
                real_clips_per_track: 1,
                sentences: 300,
            }
        } else {
            Plan {
                small,
                speech_seconds: 3.05 * 3600.0,
                gcin_seconds: 1.5 * 3600.0,
                real_cap_seconds: f64::INFINITY,
                clips_per_quadrant: 100,
                real_clips_per_track: 6,
                sentences: 12_000,
            }
        }
    }
}

/// What every stage reads: the folders, the plan, the sources fetched so far; and what the
/// report needs: each stage's time and statistics.
struct Ctx {
    out: PathBuf,
    cache: PathBuf,
    plan: Plan,
    debs: BTreeMap<String, Deb>,
    tools: Vec<Tool>,
    wheels: Vec<Wheel>,
    /// The teacher's wheels (stage music-games; set after the other stages have run).
    teacher_wheels: Vec<Wheel>,
    /// (stage, seconds this run, seconds when built, skipped)
    times: Vec<(String, f64, f64, bool)>,
    stats: BTreeMap<String, serde_json::Value>,
    apt_updated: bool,
}

impl Ctx {
    /// The build's own files under the output folder (stamps, texts, melodies).
    fn work_dir(&self) -> PathBuf {
        self.out.join(".corpus")
    }

    /// The output folder of the music sets.
    fn music_dir(&self) -> PathBuf {
        self.out.join(MUSIC)
    }
}

/// The Debian packages of the stages before the game music, in the order fetched.
const PACKAGES: [&str; 9] = [
    "pocketsphinx-testdata",
    "asterisk-core-sounds-en-wav",
    "codec2-examples",
    "fillets-ng-data",
    "fortunes",
    "gcin-voice",
    "fortunes-zh",
    "fluid-soundfont-gm",
    "wesnoth-1.16-music",
];

fn demo(out: &Path, cache: &Path, small: bool) -> Result<()> {
    for dir in [out, cache] {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the folder", dir.display()))?;
    }
    let mut ctx = Ctx {
        out: out.to_path_buf(),
        cache: cache.to_path_buf(),
        plan: Plan::new(small),
        debs: BTreeMap::new(),
        tools: Vec::new(),
        wheels: Vec::new(),
        teacher_wheels: Vec::new(),
        times: Vec::new(),
        stats: BTreeMap::new(),
        apt_updated: false,
    };
    let total = Instant::now();

    timed(&mut ctx, "downloads and tools", |ctx| {
        ctx.tools = packages::ensure_tools(ctx)?;
        for name in PACKAGES {
            let deb = packages::fetch_deb(ctx, name)?;
            ctx.debs.insert(name.to_string(), deb);
        }
        ctx.wheels = python::ensure_python(ctx)?;
        Ok(())
    })?;
    let [eng, man, real] = [speech_eng::DIR, speech_man::DIR, music_real::DIR];
    stage(&mut ctx, text::STAGE, &[], text::build)?;
    stage(&mut ctx, speech_eng::STAGE, &[eng], speech_eng::build)?;
    stage(&mut ctx, speech_man::STAGE, &[man], speech_man::build)?;
    stage(&mut ctx, melodies::STAGE, &[], melodies::build)?;
    let sets = rendering::SETS.map(|(set, _)| format!("{MUSIC}/{set}"));
    let sets = sets.each_ref().map(String::as_str);
    stage(&mut ctx, rendering::STAGE, &sets, rendering::build)?;
    stage(&mut ctx, rendering::BOTH_STAGE, &[], rendering::build_both)?;
    stage(&mut ctx, music_real::STAGE, &[real], music_real::build)?;
    // The game packages and the teacher come last, so the stages above keep their keys.
    timed(&mut ctx, "downloads (games, teacher)", games::prepare)?;
    stage(&mut ctx, games::STAGE, &[games::DIR], games::build)?;

    let secs = total.elapsed().as_secs_f64();
    report::write(&ctx, secs)?;
    eprintln!(
        "corpus demo: done in {:.0} s -> {} (see CORPORA.md)",
        secs,
        ctx.out.display()
    );
    Ok(())
}

/// Runs a step that is not a stage (downloads) and records its time for the report.
fn timed(ctx: &mut Ctx, name: &str, step: impl FnOnce(&mut Ctx) -> Result<()>) -> Result<()> {
    let t = Instant::now();
    step(ctx)?;
    let secs = t.elapsed().as_secs_f64();
    ctx.times.push((name.into(), secs, secs, false));
    Ok(())
}
