//! `trainer corpus demo`: builds stand-in corpora for the paper's experiments from openly
//! licensed material that Debian and PyPI ship (no package anywhere ships speech in hours
//! per language or music labelled with emotion, so this assembles them):
//!
//! - `speech/eng`: real English recordings (pocketsphinx-testdata's LibriVox clips,
//!   asterisk-core-sounds-en-wav, codec2-examples, fillets-ng-data's English dialogue)
//!   topped up with text-to-speech (festival's HTS and diphone voices, espeak-ng `en-us`)
//!   over fortune-mod's English texts at varied speaking rates;
//! - `speech/man`: gcin-voice's real recordings of every Mandarin syllable (two speakers)
//!   concatenated along real Chinese text (fortunes-zh, converted to zhuyin with pypinyin),
//!   topped up with espeak-ng's Mandarin (`cmn-latn-pinyin`, tone-numbered pinyin);
//! - `music/western`, `music/chinese`: real melodies (music21's Bach chorales and Essen
//!   folk tunes; Han Chinese tunes) rendered through a General MIDI soundfont with the
//!   emotional cues of each quadrant controlled (tempo, mode, loudness, articulation,
//!   register, timbre, dissonance), balanced, in 30-s clips;
//! - `music/real`: Wesnoth's recorded soundtrack cut into 30-s clips, labelled from the
//!   track titles in a reviewable CSV;
//! - `music/games`: real recorded game music (UFO:AI, 0 A.D., SuperTuxKart, Wesnoth, Extreme
//!   Tux Racer, Singularity, Colobot) labelled from the games' own data files (which track
//!   plays in battle or peace, on victory or defeat) and, for the dimension a game says
//!   nothing about, by a teacher model (vibenet); see games.rs;
//! - `CORPORA.md` and `corpus.json`: every source with its version, licence, SHA-256, size
//!   and minutes used; how labels were made; the time of each stage.
//!
//! Downloads (Debian packages via `apt-get download`, PyPI wheels) are cached and their
//! SHA-256 checked against the signed apt index (Debian) or pinned values (PyPI). Each stage
//! writes a stamp; a second run with the same settings skips finished stages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::io;

mod games;
pub mod public;

/// Bumped whenever the output of a stage changes for the same inputs.
const CORPUS_VERSION: u32 = 3;
/// Sample rate of the speech written (the paper's feature rate).
const SPEECH_RATE: u32 = 16_000;
/// Sample rate of the music clips.
const MUSIC_RATE: u32 = 22_050;
const CLIP_SECONDS: f64 = 30.0;

/// PyPI wheels used by the helper script, pinned with their SHA-256.
const WHEELS: &[(&str, &str, &str)] = &[
    (
        "music21",
        "10.5.1",
        "dc3309498c4c95cebdf8d4f20c868deb6b63bce1d929cad4f51a7ccc982987b1",
    ),
    (
        "pypinyin",
        "0.55.0",
        "d53b1e8ad2cdb815fb2cb604ed3123372f5a28c6f447571244aca36fc62a286f",
    ),
];

/// Debian packages installed as tools (text-to-speech).
const TOOL_PACKAGES: &[&str] = &[
    "espeak-ng",
    "festival",
    "festvox-us-slt-hts",
    "festvox-kallpc16k",
];

/// Never used: kept aside for independent evaluation.
const HELD_OUT: &[&str] = &["naev-data", "flare-game"];

const HELPER_PY: &str = include_str!("../../../scripts/corpus/helper.py");

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

// ---------------------------------------------------------------------------------------
// Sizes
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// The build
// ---------------------------------------------------------------------------------------

/// A downloaded, verified and extracted Debian package.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Deb {
    name: String,
    version: String,
    sha256: String,
    size: u64,
    licence: String,
    /// Where it is extracted (not written to the report).
    #[serde(skip)]
    root: PathBuf,
}

/// A tool package installed through apt.
#[derive(Debug, Clone, Serialize)]
struct Tool {
    name: String,
    version: String,
    sha256: String,
    licence: String,
}

#[derive(Debug, Clone, Serialize)]
struct Wheel {
    name: String,
    version: String,
    sha256: String,
    licence: String,
}

/// A stage's stamp: what it produced, so a second run can skip it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stamp {
    key: String,
    seconds: f64,
    files: Vec<(String, u64)>,
    stats: serde_json::Value,
}

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

    let t = Instant::now();
    ctx.tools = ensure_tools(&mut ctx)?;
    for name in [
        "pocketsphinx-testdata",
        "asterisk-core-sounds-en-wav",
        "codec2-examples",
        "fillets-ng-data",
        "fortunes",
        "gcin-voice",
        "fortunes-zh",
        "fluid-soundfont-gm",
        "wesnoth-1.16-music",
    ] {
        let deb = fetch_deb(&mut ctx, name)?;
        ctx.debs.insert(name.to_string(), deb);
    }
    ctx.wheels = ensure_python(&ctx)?;
    let secs = t.elapsed().as_secs_f64();
    ctx.times
        .push(("downloads and tools".into(), secs, secs, false));

    stage(&mut ctx, "text", &[], build_text)?;
    stage(&mut ctx, "speech-eng", &["speech/eng"], build_speech_eng)?;
    stage(&mut ctx, "speech-man", &["speech/man"], build_speech_man)?;
    stage(&mut ctx, "melodies", &[], build_melodies)?;
    stage(
        &mut ctx,
        "music-rendered",
        &["music/western", "music/chinese"],
        build_music_rendered,
    )?;
    stage(&mut ctx, "music-both", &[], build_music_both)?;
    stage(&mut ctx, "music-real", &["music/real"], build_music_real)?;
    // The game packages and the teacher come last, so the stages above keep their keys.
    let t = Instant::now();
    games::prepare(&mut ctx)?;
    let secs = t.elapsed().as_secs_f64();
    ctx.times
        .push(("downloads (games, teacher)".into(), secs, secs, false));
    stage(&mut ctx, games::STAGE, &["music/games"], games::build)?;

    let secs = total.elapsed().as_secs_f64();
    write_report(&ctx, secs)?;
    eprintln!(
        "corpus demo: done in {:.0} s -> {} (see CORPORA.md)",
        secs,
        ctx.out.display()
    );
    Ok(())
}

/// The files a stage wrote, relative to the output folder, with their sizes.
type Produced = (Vec<PathBuf>, serde_json::Value);

/// Runs a stage unless its stamp says it is done with the same inputs and its files are
/// intact. `dirs` are the stage's output folders (cleared before a rebuild).
fn stage(
    ctx: &mut Ctx,
    name: &str,
    dirs: &[&str],
    build: fn(&Ctx) -> Result<Produced>,
) -> Result<()> {
    let key = stage_key(ctx, name);
    let stamp_path = ctx.out.join(".corpus").join(format!("stamp-{name}.json"));
    if let Some(stamp) = read_stamp(&stamp_path)
        && stamp.key == key
        && stamp
            .files
            .iter()
            .all(|(rel, size)| std::fs::metadata(ctx.out.join(rel)).is_ok_and(|m| m.len() == *size))
    {
        eprintln!("stage {name}: up to date ({} files)", stamp.files.len());
        ctx.times.push((name.into(), 0.0, stamp.seconds, true));
        ctx.stats.insert(name.into(), stamp.stats);
        return Ok(());
    }
    for d in dirs {
        let p = ctx.out.join(d);
        if p.exists() {
            std::fs::remove_dir_all(&p)
                .with_context(|| format!("{}: cannot clear", p.display()))?;
        }
    }
    eprintln!("stage {name}: building");
    let t = Instant::now();
    let (files, stats) = build(ctx).with_context(|| format!("stage {name}"))?;
    let seconds = t.elapsed().as_secs_f64();
    let mut listed = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&ctx.out)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        let size = std::fs::metadata(ctx.out.join(&rel))
            .with_context(|| format!("{rel}: missing after stage {name}"))?
            .len();
        listed.push((rel, size));
    }
    let stamp = Stamp {
        key,
        seconds,
        files: listed,
        stats: stats.clone(),
    };
    io::write_atomic(&stamp_path, serde_json::to_string(&stamp)?.as_bytes())?;
    eprintln!("stage {name}: {seconds:.1} s");
    ctx.times.push((name.into(), seconds, seconds, false));
    ctx.stats.insert(name.into(), stats);
    Ok(())
}

fn stage_key(ctx: &Ctx, name: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{name} v{CORPUS_VERSION} {:?}", ctx.plan));
    for d in ctx.debs.values() {
        h.update(format!("{} {} {}", d.name, d.version, d.sha256));
    }
    for t in &ctx.tools {
        h.update(format!("{} {}", t.name, t.version));
    }
    for w in &ctx.wheels {
        h.update(format!("{} {}", w.name, w.sha256));
    }
    h.update(HELPER_PY);
    if name == games::STAGE {
        h.update(games::key_extra(ctx));
    }
    hex(&h.finalize())
}

fn read_stamp(path: &Path) -> Option<Stamp> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex(&h.finalize()))
}

// ---------------------------------------------------------------------------------------
// External commands, apt and pip
// ---------------------------------------------------------------------------------------

/// Runs a command; on failure, one line naming it and the last line it printed.
fn run_cmd(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let o = cmd
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        let out = String::from_utf8_lossy(&o.stdout);
        let last = err
            .lines()
            .chain(out.lines())
            .rfind(|l| !l.trim().is_empty() && !l.starts_with("W: "))
            .unwrap_or("no output")
            .trim()
            .to_string();
        let shown: String = shown.chars().take(160).collect();
        bail!("{shown} failed ({}): {last}", o.status);
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn apt_update(ctx: &mut Ctx) -> Result<()> {
    if ctx.apt_updated {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "the apt package lists are missing or stale and updating them needs root: run `apt-get update` as root"
        );
    }
    eprintln!("apt-get update");
    run_cmd(Command::new("apt-get").args(["update", "-qq"]))
        .context("apt-get update (the Debian package registry must be reachable)")?;
    ctx.apt_updated = true;
    Ok(())
}

/// One apt-cache record of a package: its candidate version's fields.
fn apt_show(ctx: &mut Ctx, name: &str) -> Result<BTreeMap<String, String>> {
    if !have("apt-cache") {
        bail!("{name}: apt-cache not found: `trainer corpus demo` needs a Debian system (apt)");
    }
    for attempt in 0..2 {
        let o = Command::new("apt-cache")
            .args(["show", "--no-all-versions", name])
            .output()
            .context("cannot run apt-cache")?;
        let text = String::from_utf8_lossy(&o.stdout);
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && !k.starts_with(' ')
            {
                fields.insert(k.to_string(), v.trim().to_string());
            }
        }
        if o.status.success() && fields.contains_key("SHA256") && fields.contains_key("Filename") {
            return Ok(fields);
        }
        if attempt == 0 {
            apt_update(ctx)?;
        }
    }
    bail!("{name}: no such package in the apt index (after apt-get update)")
}

/// Downloads a Debian package into the cache (unless there), checks its SHA-256 against
/// the apt index and extracts it.
fn fetch_deb(ctx: &mut Ctx, name: &str) -> Result<Deb> {
    if HELD_OUT.contains(&name) {
        bail!("{name} is kept aside for independent evaluation and must not be used");
    }
    let fields = apt_show(ctx, name)?;
    let version = fields["Version"].clone();
    let expected = fields["SHA256"].to_ascii_lowercase();
    let size: u64 = fields.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0);
    let file_name = Path::new(&fields["Filename"])
        .file_name()
        .context("bad Filename field")?
        .to_string_lossy()
        .into_owned();
    let debs = ctx.cache.join("debs");
    std::fs::create_dir_all(&debs)?;
    let deb_path = debs.join(&file_name);
    let ok = deb_path.is_file() && sha256_file(&deb_path)? == expected;
    if !ok {
        eprintln!("download {name} {version} ({:.1} MB)", size as f64 / 1e6);
        let tmp = debs.join(format!(".tmp-{name}"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        run_cmd(
            Command::new("apt-get")
                .current_dir(&tmp)
                .args(["-o", "APT::Sandbox::User=root", "download", "-q"])
                .arg(format!("{name}={version}")),
        )
        .or_else(|e| {
            // The index may be stale (a version the mirror no longer has).
            if ctx.apt_updated {
                return Err(e);
            }
            apt_update(ctx)?;
            run_cmd(Command::new("apt-get").current_dir(&tmp).args([
                "-o",
                "APT::Sandbox::User=root",
                "download",
                "-q",
                name,
            ]))
        })
        .with_context(|| format!("downloading the Debian package {name}"))?;
        let got = std::fs::read_dir(&tmp)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .with_context(|| format!("apt-get download {name} wrote no .deb"))?;
        let sum = sha256_file(&got)?;
        if sum != expected {
            bail!("{name}: SHA-256 mismatch: {sum} downloaded, {expected} in the apt index");
        }
        std::fs::rename(&got, &deb_path)?;
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let root = ctx.cache.join("pkgs").join(format!("{name}_{version}"));
    let done = root.join(".extracted");
    if !done.is_file() {
        let tmp = ctx.cache.join("pkgs").join(format!(".tmp-{name}"));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        run_cmd(Command::new("dpkg-deb").arg("-x").arg(&deb_path).arg(&tmp))
            .with_context(|| format!("extracting {name}"))?;
        let _ = std::fs::remove_dir_all(&root);
        std::fs::rename(&tmp, &root)?;
        std::fs::write(&done, &expected)?;
    }
    let licence = licence_of(&root.join("usr/share/doc").join(name).join("copyright"));
    Ok(Deb {
        name: name.into(),
        version,
        sha256: expected,
        size,
        licence,
        root,
    })
}

/// The licences named in a Debian copyright file (the `License:` fields of DEP-5, or the
/// first licence name found in free text).
fn licence_of(copyright: &Path) -> String {
    let Ok(text) = std::fs::read_to_string(copyright) else {
        return "unknown (no copyright file)".into();
    };
    let mut found: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(l) = line.strip_prefix("License:") {
            let l = l.trim().to_string();
            if !l.is_empty() && !found.contains(&l) {
                found.push(l);
            }
        }
    }
    if found.is_empty() {
        // Free-text copyright files: the licences they name, most specific first.
        for (needle, name) in [
            ("GNU General Public License version 2", "GPL-2"),
            ("either version 2 of the License, or", "GPL-2+"),
            ("either version 3 of the License, or", "GPL-3+"),
            ("Lesser General Public", "LGPL"),
            ("Library General Public", "LGPL-2"),
            ("/usr/share/common-licenses/GPL-2", "GPL-2"),
            ("/usr/share/common-licenses/GPL-3", "GPL-3"),
            ("Creative Commons Attribution-ShareAlike", "CC-BY-SA"),
            ("CC-BY-SA", "CC-BY-SA"),
            ("Creative Commons Attribution", "CC-BY"),
            (
                "Permission is hereby granted, free of charge",
                "permissive (free use and distribution with notice)",
            ),
            ("public domain", "public domain (parts)"),
        ] {
            if text.contains(needle) && !found.iter().any(|f| f == name) {
                found.push(name.to_string());
            }
        }
    }
    if found.is_empty() {
        "see /usr/share/doc/.../copyright".into()
    } else {
        found.join("; ")
    }
}

/// espeak-ng and festival with its voices: installed with apt-get when missing (as root).
fn ensure_tools(ctx: &mut Ctx) -> Result<Vec<Tool>> {
    let installed = |p: &str| {
        Command::new("dpkg-query")
            .args(["-W", "-f", "${Status} ${Version}", p])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .filter(|s| s.starts_with("install ok installed"))
            .map(|s| s.rsplit(' ').next().unwrap_or("").to_string())
    };
    let missing: Vec<&str> = TOOL_PACKAGES
        .iter()
        .copied()
        .filter(|p| installed(p).is_none())
        .collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!(
                "missing text-to-speech packages: run `apt-get install -y {}` as root",
                missing.join(" ")
            );
        }
        apt_update(ctx)?;
        eprintln!("apt-get install {}", missing.join(" "));
        run_cmd(
            Command::new("apt-get")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["install", "-y", "-q", "--no-install-recommends"])
                .args(&missing),
        )
        .context("installing the text-to-speech tools")?;
    }
    for prog in ["espeak-ng", "text2wave"] {
        if !have(prog) {
            bail!(
                "{prog} not found after installing {}",
                TOOL_PACKAGES.join(", ")
            );
        }
    }
    let mut tools = Vec::new();
    for &p in TOOL_PACKAGES {
        let version = installed(p).context(format!("{p} is not installed"))?;
        let sha256 = apt_show(ctx, p)
            .ok()
            .filter(|f| f.get("Version") == Some(&version))
            .and_then(|f| f.get("SHA256").cloned())
            .unwrap_or_else(|| "(installed version not in the apt index)".into());
        tools.push(Tool {
            name: p.into(),
            version,
            sha256,
            licence: licence_of(&Path::new("/usr/share/doc").join(p).join("copyright")),
        });
    }
    Ok(tools)
}

fn venv_python(ctx: &Ctx) -> PathBuf {
    ctx.cache.join("venv/bin/python")
}

impl Wheel {
    fn pinned(name: &str, version: &str, sha256: &str, licence: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            sha256: sha256.into(),
            licence: licence.into(),
        }
    }
}

/// A pinned PyPI wheel's file in `dir` (downloaded with `py -m pip download` unless there),
/// checked against its SHA-256: a mismatch deletes the file and stops with one line.
fn fetch_wheel(py: &Path, dir: &Path, wheel: &Wheel) -> Result<PathBuf> {
    let (name, version, sha) = (&wheel.name, &wheel.version, &wheel.sha256);
    let prefix = format!("{name}-{version}-");
    let found = || -> Option<PathBuf> {
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    n.starts_with(&prefix) && n.ends_with(".whl")
                })
            })
    };
    let path = match found() {
        Some(p) => p,
        None => {
            run_cmd(
                Command::new(py)
                    .args(["-m", "pip", "download", "-q", "--no-deps"])
                    .args(["--only-binary", ":all:", "-d"])
                    .arg(dir)
                    .arg(format!("{name}=={version}")),
            )
            .with_context(|| format!("downloading {name} {version} from PyPI"))?;
            found().with_context(|| format!("pip wrote no wheel of {name}"))?
        }
    };
    let sum = sha256_file(&path)?;
    if &sum != sha {
        let _ = std::fs::remove_file(&path);
        bail!("{name} {version}: SHA-256 mismatch: {sum} downloaded, {sha} pinned");
    }
    Ok(path)
}

/// A Python virtual environment in the cache with music21 and pypinyin, installed from
/// wheels downloaded once and checked against pinned SHA-256 values.
fn ensure_python(ctx: &Ctx) -> Result<Vec<Wheel>> {
    let venv = ctx.cache.join("venv");
    let py = venv_python(ctx);
    let wheels_dir = ctx.cache.join("wheels");
    std::fs::create_dir_all(&wheels_dir)?;
    let marker = venv.join(".mer-ready");
    let want: String = WHEELS.iter().map(|w| format!("{}={} ", w.0, w.2)).collect();
    let mut out = Vec::new();
    let ready = std::fs::read_to_string(&marker).is_ok_and(|s| s == want) && py.is_file();
    if !ready {
        if !have("python3") {
            bail!(
                "python3 not found (needed for music21 and pypinyin): install python3 and python3-venv"
            );
        }
        let _ = std::fs::remove_dir_all(&venv);
        eprintln!("python venv with music21 and pypinyin");
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv)).context(
            "creating a Python virtual environment (install python3-venv: apt-get install -y python3-venv)",
        )?;
    }
    let mut files = Vec::new();
    for (name, version, sha) in WHEELS {
        let licence = match *name {
            "music21" => "BSD-3-Clause (code and corpus; see music21/corpus/license.txt)",
            _ => "MIT",
        };
        let wheel = Wheel::pinned(name, version, sha, licence);
        files.push(fetch_wheel(&py, &wheels_dir, &wheel)?);
        out.push(wheel);
    }
    if !ready {
        run_cmd(
            Command::new(&py)
                .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
                .args(&files),
        )
        .context("installing music21 and pypinyin (and their dependencies) from PyPI")?;
        std::fs::write(&marker, want)?;
    }
    Ok(out)
}

fn helper(ctx: &Ctx, args: &[&str]) -> Result<()> {
    let script = ctx.cache.join("helper.py");
    if std::fs::read_to_string(&script).ok().as_deref() != Some(HELPER_PY) {
        io::write_atomic(&script, HELPER_PY.as_bytes())?;
    }
    run_cmd(
        Command::new(venv_python(ctx))
            .env("PYTHONHASHSEED", "0")
            .arg(&script)
            .args(args),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Audio helpers
// ---------------------------------------------------------------------------------------

fn to_i16(x: f32) -> i16 {
    (x.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Writes mono 16-bit WAV atomically.
fn write_wav(path: &Path, samples: &[f32], rate: u32) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = std::io::Cursor::new(Vec::with_capacity(samples.len() * 2 + 44));
    {
        let mut w = hound::WavWriter::new(&mut bytes, spec)?;
        for &s in samples {
            w.write_sample(to_i16(s))?;
        }
        w.finalize()?;
    }
    io::write_atomic(path, bytes.get_ref())
}

/// Decodes any audio file to mono at its own rate.
fn read_mono(path: &Path) -> Result<(Vec<f32>, u32)> {
    let a = io::read_audio(path).with_context(|| format!("{}", path.display()))?;
    Ok((mer::audio::to_mono(&a.channels), a.sample_rate))
}

/// Headerless 16-bit little-endian mono (pocketsphinx's and codec2's .raw).
fn read_raw16(path: &Path) -> Result<Vec<f32>> {
    let b = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    Ok(b.chunks_exact(2)
        .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0)
        .collect())
}

fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>> {
    Ok(mer::audio::resample(samples, from, to)?)
}

/// Scales to a peak of `peak` (speech is stored at a common level).
fn normalise(samples: &mut [f32], peak: f32) {
    let m = samples.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if m > 1e-6 {
        let g = peak / m;
        samples.iter_mut().for_each(|x| *x *= g);
    }
}

/// Writes speech as 16 kHz mono WAV; returns its duration in seconds.
fn write_speech(path: &Path, samples: &[f32], rate: u32) -> Result<f64> {
    let mut s = resample(samples, rate, SPEECH_RATE)?;
    normalise(&mut s, 0.9);
    write_wav(path, &s, SPEECH_RATE)?;
    Ok(s.len() as f64 / f64::from(SPEECH_RATE))
}

fn files_under(dir: &Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ext.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------

fn text_dir(ctx: &Ctx) -> PathBuf {
    ctx.out.join(".corpus/text")
}

/// English sentences from fortune-mod's (inoffensive) English fortunes, and Chinese
/// sentences from fortunes-zh with their pinyin and zhuyin.
fn build_text(ctx: &Ctx) -> Result<Produced> {
    let dir = text_dir(ctx);
    std::fs::create_dir_all(&dir)?;
    let fortunes = ctx.debs["fortunes"].root.join("usr/share/games/fortunes");
    let mut english = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&fortunes)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_none())
        .collect();
    names.sort();
    for f in names {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for entry in text.split("\n%\n") {
            let lines: Vec<&str> = entry
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("--") && !l.starts_with('-'))
                .collect();
            let s = lines.join(" ");
            let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
            let ok_chars = s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " .,;:'\"!?()-".contains(c));
            let letters = s.chars().filter(|c| c.is_ascii_alphabetic()).count();
            if ok_chars && (40..=320).contains(&s.len()) && letters * 10 > s.len() * 7 {
                english.push(s);
            }
        }
    }
    english.dedup();
    english.shuffle(&mut StdRng::seed_from_u64(1));
    if english.len() < 100 {
        bail!("only {} English sentences found in fortunes", english.len());
    }
    let en_path = dir.join("english.json");
    io::write_atomic(&en_path, serde_json::to_string(&english)?.as_bytes())?;

    let zh = ctx.debs["fortunes-zh"]
        .root
        .join("usr/share/games/fortunes");
    let mut all = String::new();
    for name in ["tang300", "song100", "chinese"] {
        all.push_str(&std::fs::read_to_string(zh.join(name)).unwrap_or_default());
        all.push('\n');
    }
    let zh_text = dir.join("chinese.txt");
    std::fs::write(&zh_text, &all)?;
    let zh_json = dir.join("chinese.json");
    helper(
        ctx,
        &[
            "pinyin",
            "--text",
            &zh_text.to_string_lossy(),
            "--max-sentences",
            &ctx.plan.sentences.to_string(),
            "--out",
            &zh_json.to_string_lossy(),
        ],
    )
    .context("converting Chinese text to pinyin")?;
    let _ = std::fs::remove_file(&zh_text);
    let n_zh = load_chinese(ctx)?.len();
    Ok((
        vec![en_path, zh_json],
        json!({"english_sentences": english.len(), "chinese_sentences": n_zh}),
    ))
}

#[derive(Debug, Clone, Deserialize)]
struct ChineseSentence {
    text: String,
    pinyin: Vec<Vec<String>>,
    zhuyin: Vec<Vec<String>>,
}

fn load_chinese(ctx: &Ctx) -> Result<Vec<ChineseSentence>> {
    let p = text_dir(ctx).join("chinese.json");
    Ok(serde_json::from_slice(&std::fs::read(&p)?)?)
}

fn load_english(ctx: &Ctx) -> Result<Vec<String>> {
    let p = text_dir(ctx).join("english.json");
    Ok(serde_json::from_slice(&std::fs::read(&p)?)?)
}

// ---------------------------------------------------------------------------------------
// Speech
// ---------------------------------------------------------------------------------------

/// Seconds of speech per source, for the report.
#[derive(Default, Serialize)]
struct SpeechStats {
    /// source -> (files, seconds)
    sources: BTreeMap<String, (usize, f64)>,
}

impl SpeechStats {
    fn add(&mut self, source: &str, seconds: f64) {
        let e = self.sources.entry(source.into()).or_default();
        e.0 += 1;
        e.1 += seconds;
    }
    fn total(&self) -> f64 {
        self.sources.values().map(|v| v.1).sum()
    }
}

/// One synthesis job: writes a file, returns its duration.
type Job = Box<dyn Fn() -> Result<f64> + Send + Sync>;

/// Runs numbered jobs in parallel batches, in order, until `budget` seconds are reached;
/// the result is the same whatever the parallelism (extra files of the last batch are
/// removed). Returns the (path, seconds) kept.
fn synthesize_until(
    budget: f64,
    max_jobs: usize,
    make: &dyn Fn(usize) -> (PathBuf, Job),
) -> Result<Vec<(PathBuf, f64)>> {
    let mut kept = Vec::new();
    let mut total = 0.0;
    let batch = rayon::current_num_threads().max(1) * 4;
    let mut i = 0;
    while total < budget && i < max_jobs {
        let jobs: Vec<(PathBuf, Job)> = (i..(i + batch).min(max_jobs)).map(make).collect();
        i += jobs.len();
        let results: Vec<Result<f64>> = jobs.par_iter().map(|(_, j)| j()).collect();
        for ((path, _), r) in jobs.into_iter().zip(results) {
            let secs = r?;
            if total < budget {
                total += secs;
                kept.push((path, secs));
            } else {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    Ok(kept)
}

fn tmp_wav(dir: &Path, tag: &str) -> PathBuf {
    dir.join(format!(".{tag}.tmp.wav"))
}

fn espeak(voice: &str, rate: u32, pitch: u32, text: &str, out: &Path) -> Result<()> {
    run_cmd(
        Command::new("espeak-ng")
            .args([
                "-v",
                voice,
                "-s",
                &rate.to_string(),
                "-p",
                &pitch.to_string(),
                "-w",
            ])
            .arg(out)
            .arg("--")
            .arg(text),
    )
    .map(|_| ())
}

fn festival(voice: &str, params: &str, text: &str, out: &Path, scratch: &Path) -> Result<()> {
    let txt = scratch.with_extension("txt");
    std::fs::write(&txt, text)?;
    let r = run_cmd(
        Command::new("text2wave")
            .arg("-eval")
            .arg(format!("({voice})"))
            .arg("-eval")
            .arg(params)
            .arg("-o")
            .arg(out)
            .arg(&txt),
    );
    let _ = std::fs::remove_file(&txt);
    r.map(|_| ())
}

/// Synthesizes with `synth` into a scratch file, converts it to 16 kHz speech at `out`.
fn tts_to(out: &Path, synth: impl FnOnce(&Path) -> Result<()>) -> Result<f64> {
    let dir = out.parent().context("no parent")?;
    std::fs::create_dir_all(dir)?;
    let tmp = tmp_wav(dir, &out.file_stem().unwrap_or_default().to_string_lossy());
    synth(&tmp)?;
    let (s, rate) = read_mono(&tmp)?;
    let _ = std::fs::remove_file(&tmp);
    if s.len() < rate as usize / 2 {
        bail!("{}: synthesizer wrote under 0.5 s", out.display());
    }
    write_speech(out, &s, rate)
}

fn build_speech_eng(ctx: &Ctx) -> Result<Produced> {
    let plan = ctx.plan;
    let root = ctx.out.join("speech/eng");
    let mut stats = SpeechStats::default();
    let mut files = Vec::new();

    // Real recordings, capped per source in the small build.
    let ps = ctx.debs["pocketsphinx-testdata"]
        .root
        .join("usr/share/pocketsphinx/test/data");
    let asterisk = ctx.debs["asterisk-core-sounds-en-wav"]
        .root
        .join("usr/share/asterisk/sounds/en");
    let codec2 = ctx.debs["codec2-examples"].root.join("usr/share/codec2");
    let fillets = ctx.debs["fillets-ng-data"]
        .root
        .join("usr/share/games/fillets-ng/sound");
    let mut real: Vec<(&str, PathBuf, Option<u32>)> = Vec::new();
    for p in files_under(&ps, &["wav"]) {
        real.push(("pocketsphinx-testdata", p, None));
    }
    for p in files_under(&ps, &["raw"]) {
        real.push(("pocketsphinx-testdata", p, Some(16_000)));
    }
    let mut ast = files_under(&asterisk, &["wav"]);
    if ast.is_empty() {
        ast = files_under(&ctx.debs["asterisk-core-sounds-en-wav"].root, &["wav"]);
    }
    for p in ast {
        real.push(("asterisk-core-sounds-en-wav", p, None));
    }
    for p in files_under(&codec2.join("wav"), &["wav"]) {
        real.push(("codec2-examples", p, None));
    }
    for p in files_under(&fillets, &["ogg"]) {
        if p.parent()
            .and_then(|d| d.file_name())
            .is_some_and(|n| n == "en")
        {
            real.push(("fillets-ng-data", p, None));
        }
    }
    let results: Vec<Result<Option<(String, PathBuf, f64)>>> = real
        .par_iter()
        .enumerate()
        .map(|(i, (src, path, raw_rate))| {
            let (s, rate) = match raw_rate {
                Some(r) => (read_raw16(path)?, *r),
                None => read_mono(path)?,
            };
            if s.len() < rate as usize / 2 {
                return Ok(None);
            }
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let out = root
                .join("real")
                .join(src)
                .join(format!("{i:05}-{stem}.wav"));
            let secs = write_speech(&out, &s, rate)?;
            Ok(Some((src.to_string(), out, secs)))
        })
        .collect();
    let mut per_source: BTreeMap<String, f64> = BTreeMap::new();
    for r in results {
        if let Some((src, out, secs)) = r? {
            let used = per_source.entry(src.clone()).or_default();
            if *used >= plan.real_cap_seconds {
                std::fs::remove_file(&out)?;
                continue;
            }
            *used += secs;
            stats.add(&src, secs);
            files.push(out);
        }
    }

    // Text-to-speech over fortune texts: festival's HTS voice (slt, female), its diphone
    // voice (kal, male) and espeak-ng en-us with several voice variants.
    let text = Arc::new(load_english(ctx)?);
    let remaining = (plan.speech_seconds - stats.total()).max(0.0);
    let shares = [
        ("festival-slt-hts", 0.40),
        ("festival-kal-diphone", 0.25),
        ("espeak-ng-en-us", 0.35),
    ];
    let mut offset = 0usize;
    for (k, (voice, share)) in shares.iter().enumerate() {
        let budget = remaining * share;
        let dir = root.join("tts").join(voice);
        let text = text.clone();
        let voice = *voice;
        let start = offset;
        let make = move |i: usize| -> (PathBuf, Job) {
            let out = dir.join(format!("{voice}-{i:05}.wav"));
            let mut rng = StdRng::seed_from_u64((k as u64) << 32 | i as u64);
            let n = text.len();
            // One to three fortunes per utterance.
            let parts = 1 + (i % 3);
            let sentence: String = (0..parts)
                .map(|j| text[(start + i * 3 + j) % n].clone())
                .collect::<Vec<_>>()
                .join(" ");
            let o = out.clone();
            let job: Job = match voice {
                "festival-slt-hts" => {
                    let speed: f64 = rng.random_range(0.8..1.25);
                    let shift: f64 = rng.random_range(-2.0..2.5);
                    Box::new(move || {
                        tts_to(&o, |tmp| {
                            festival(
                                "voice_cmu_us_slt_arctic_hts",
                                &format!(
                                    "(set! hts_engine_params (append hts_engine_params (list (list \"-r\" {speed:.3}) (list \"-fm\" {shift:.2}))))"
                                ),
                                &sentence,
                                tmp,
                                tmp,
                            )
                        })
                    })
                }
                "festival-kal-diphone" => {
                    let stretch: f64 = rng.random_range(0.8..1.3);
                    Box::new(move || {
                        tts_to(&o, |tmp| {
                            festival(
                                "voice_kal_diphone",
                                &format!("(Parameter.set 'Duration_Stretch {stretch:.3})"),
                                &sentence,
                                tmp,
                                tmp,
                            )
                        })
                    })
                }
                _ => {
                    let variants = ["", "+m1", "+m3", "+m7", "+f1", "+f2", "+f4"];
                    let v = format!("en-us{}", variants[rng.random_range(0..variants.len())]);
                    let rate: u32 = rng.random_range(125..205);
                    let pitch: u32 = rng.random_range(30..70);
                    Box::new(move || tts_to(&o, |tmp| espeak(&v, rate, pitch, &sentence, tmp)))
                }
            };
            (out, job)
        };
        eprintln!("  {voice}: {:.1} min", budget / 60.0);
        let kept = synthesize_until(budget, 1_000_000, &make)?;
        offset += kept.len() * 3;
        for (p, s) in kept {
            stats.add(voice, s);
            files.push(p);
        }
    }
    Ok((files, serde_json::to_value(&stats)?))
}

/// gcin-voice's folder name of a zhuyin syllable: tone marks become gcin's digits
/// (first tone: none; neutral `˙`: 1; `ˊ` 2, `ˇ` 3, `ˋ` 4).
fn gcin_name(zhuyin: &str) -> String {
    let mut base = String::new();
    let mut tone = "";
    for c in zhuyin.chars() {
        match c {
            'ˊ' => tone = "2",
            'ˇ' => tone = "3",
            'ˋ' => tone = "4",
            '˙' => tone = "1",
            'ˉ' => {}
            c => base.push(c),
        }
    }
    format!("{base}{tone}")
}

/// Trims leading and trailing near-silence of a syllable recording.
fn trim_silence(s: &[f32], rate: u32) -> &[f32] {
    let peak = s.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    let thr = peak * 0.03;
    let win = (rate / 200) as usize; // 5 ms
    let loud = |i: usize| s[i..(i + win).min(s.len())].iter().any(|x| x.abs() > thr);
    let mut a = 0;
    while a + win < s.len() && !loud(a) {
        a += win;
    }
    let mut b = s.len();
    while b > a + win && !loud(b - win) {
        b -= win;
    }
    &s[a..b]
}

/// Decoded gcin syllables by (folder, speaker); `None` where missing.
type SyllableCache = BTreeMap<(String, String), Option<Arc<(Vec<f32>, u32)>>>;

/// A real-music clip: file, quadrant, label source, defensible, track, start s, length s.
type RealClip<'a> = (String, usize, &'a str, bool, String, f64, f64);

/// 8-ms raised-cosine fades at both ends (no clicks where syllables are joined).
fn fade_edges(x: &mut [f32], rate: u32) {
    let n = ((rate as usize) / 125).min(x.len() / 2);
    for i in 0..n {
        let g = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / n as f32).cos();
        x[i] *= g;
        let j = x.len() - 1 - i;
        x[j] *= g;
    }
}

fn build_speech_man(ctx: &Ctx) -> Result<Produced> {
    let plan = ctx.plan;
    let root = ctx.out.join("speech/man");
    let sentences = Arc::new(load_chinese(ctx)?);
    if sentences.is_empty() {
        bail!("no Chinese sentences");
    }
    let mut stats = SpeechStats::default();
    let mut files = Vec::new();

    // gcin-voice: syllables (44.1 kHz, speakers "3" and "5") concatenated along the text.
    let gcin = ctx.debs["gcin-voice"].root.join("usr/share/gcin-voice/ogg");
    if !gcin.is_dir() {
        bail!("{}: gcin-voice's recordings not found", gcin.display());
    }
    let cache: Arc<std::sync::Mutex<SyllableCache>> = Arc::default();
    let missing = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let syllable = {
        let cache = cache.clone();
        let gcin = gcin.clone();
        let missing = missing.clone();
        move |name: &str, speaker: &str| -> Option<Arc<(Vec<f32>, u32)>> {
            let key = (name.to_string(), speaker.to_string());
            if let Some(v) = cache.lock().unwrap().get(&key) {
                return v.clone();
            }
            let other = if speaker == "3" { "5" } else { "3" };
            let v = [speaker, other].iter().find_map(|sp| {
                let p = gcin.join(name).join(format!("{sp}.ogg"));
                let (s, r) = read_mono(&p).ok()?;
                Some(Arc::new((trim_silence(&s, r).to_vec(), r)))
            });
            if v.is_none() {
                missing.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            cache.lock().unwrap().insert(key, v.clone());
            v
        }
    };
    let syllable = Arc::new(syllable);
    let dir = root.join("gcin-voice");
    let n = sentences.len();
    let make = {
        let sentences = sentences.clone();
        let syllable = syllable.clone();
        move |i: usize| -> (PathBuf, Job) {
            let out = dir.join(format!("gcin-{i:05}.wav"));
            let sentences = sentences.clone();
            let syllable = syllable.clone();
            let o = out.clone();
            let job: Job = Box::new(move || {
                let mut rng = StdRng::seed_from_u64(0x6c_696e ^ i as u64);
                let speaker = if rng.random_bool(0.5) { "3" } else { "5" };
                // Speaking rate: gaps between syllables and a slight speed change.
                let gap: f64 = rng.random_range(0.01..0.07);
                let pause: f64 = rng.random_range(0.18..0.35);
                let speed: f64 = rng.random_range(0.93..1.08);
                let rate = 44_100u32;
                let mut buf: Vec<f32> = vec![0.0; (rate as f64 * 0.2) as usize];
                let parts = 1 + i % 2;
                for j in 0..parts {
                    let s = &sentences[(i * 2 + j) % n];
                    for phrase in &s.zhuyin {
                        for zy in phrase {
                            if let Some(a) = syllable(&gcin_name(zy), speaker) {
                                let (x, r) = (&a.0, a.1);
                                let mut x = if r == rate {
                                    x.clone()
                                } else {
                                    resample(x, r, rate)?
                                };
                                fade_edges(&mut x, rate);
                                buf.extend_from_slice(&x);
                                let g = gap * rng.random_range(0.5..1.5);
                                buf.extend(std::iter::repeat_n(
                                    0.0,
                                    (g * f64::from(rate)) as usize,
                                ));
                            }
                        }
                        buf.extend(std::iter::repeat_n(0.0, (pause * f64::from(rate)) as usize));
                    }
                }
                let stretched = resample(&buf, (f64::from(rate) * speed) as u32, rate)?;
                if stretched.len() < rate as usize {
                    bail!("gcin utterance {i}: no syllables found");
                }
                write_speech(&o, &stretched, rate)
            });
            (out, job)
        }
    };
    eprintln!("  gcin-voice: {:.1} min", plan.gcin_seconds / 60.0);
    let kept = synthesize_until(plan.gcin_seconds, 1_000_000, &make)?;
    let used_sentences = kept.len() * 2;
    for (p, s) in kept {
        stats.add("gcin-voice", s);
        files.push(p);
    }

    // espeak-ng Mandarin over the following sentences, tone-numbered pinyin.
    let remaining = (plan.speech_seconds - stats.total()).max(0.0);
    let dir = root.join("espeak-ng-cmn");
    let make = {
        let sentences = sentences.clone();
        move |i: usize| -> (PathBuf, Job) {
            let out = dir.join(format!("espeak-cmn-{i:05}.wav"));
            let mut rng = StdRng::seed_from_u64(0x636d_6e00 ^ i as u64);
            let parts = 1 + i % 3;
            let text: String = (0..parts)
                .map(|j| {
                    let s = &sentences[(used_sentences + i * 3 + j) % n];
                    s.pinyin
                        .iter()
                        .map(|p| p.join(" "))
                        .collect::<Vec<_>>()
                        .join(" , ")
                        + " ."
                })
                .collect::<Vec<_>>()
                .join(" ");
            let variants = ["", "+m1", "+m3", "+f1", "+f2", "+f4"];
            let v = format!(
                "cmn-latn-pinyin{}",
                variants[rng.random_range(0..variants.len())]
            );
            let rate: u32 = rng.random_range(110..190);
            let pitch: u32 = rng.random_range(30..70);
            let o = out.clone();
            let job: Job = Box::new(move || tts_to(&o, |tmp| espeak(&v, rate, pitch, &text, tmp)));
            (out, job)
        }
    };
    eprintln!("  espeak-ng cmn-latn-pinyin: {:.1} min", remaining / 60.0);
    for (p, s) in synthesize_until(remaining, 1_000_000, &make)? {
        stats.add("espeak-ng-cmn-latn-pinyin", s);
        files.push(p);
    }
    let missing = missing.load(std::sync::atomic::Ordering::Relaxed);
    let mut v = serde_json::to_value(&stats)?;
    v["gcin_missing_syllables"] = json!(missing);
    v["text_sample"] = json!(sentences.first().map(|s| s.text.clone()));
    Ok((files, v))
}

// ---------------------------------------------------------------------------------------
// Music: melodies
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
struct Piece {
    id: String,
    source: String,
    title: String,
    collection: String,
    tonic: i32,
    mode: String,
    bar_ql: f64,
    length_ql: f64,
    /// Parts of notes: (onset in quarter notes, duration, MIDI pitches).
    parts: Vec<Vec<(f64, f64, Vec<i32>)>>,
}

#[derive(Debug, Clone, Deserialize)]
struct Melodies {
    western: Vec<Piece>,
    chinese: Vec<Piece>,
}

fn melodies_path(ctx: &Ctx) -> PathBuf {
    ctx.out.join(".corpus/melodies.json")
}

fn build_melodies(ctx: &Ctx) -> Result<Produced> {
    let n = ctx.plan.clips_per_quadrant * 4;
    let out = melodies_path(ctx);
    // Cached in the download cache too: parsing the corpus takes minutes.
    let cached = ctx.cache.join(format!(
        "melodies-{n}-{}.json",
        &hex(&Sha256::digest(HELPER_PY))[..12]
    ));
    if !cached.is_file() {
        let tmp = cached.with_extension("tmp");
        helper(
            ctx,
            &[
                "melodies",
                "--western",
                &n.to_string(),
                "--chinese",
                &n.to_string(),
                "--out",
                &tmp.to_string_lossy(),
            ],
        )
        .context("exporting melodies from music21's corpus")?;
        std::fs::rename(&tmp, &cached)?;
    }
    let bytes = std::fs::read(&cached)?;
    let m: Melodies = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: bad melody file", cached.display()))?;
    if m.western.is_empty() || m.chinese.is_empty() {
        bail!("music21 gave no melodies");
    }
    io::write_atomic(&out, &bytes)?;
    Ok((
        vec![out],
        json!({"western": m.western.len(), "chinese": m.chinese.len()}),
    ))
}

// ---------------------------------------------------------------------------------------
// Music: rendering with controlled emotional cues
// ---------------------------------------------------------------------------------------

/// The cues of a quadrant (Juslin & Laukka 2003; Gabrielsson & Lindström 2010; Eerola &
/// Vuoskoski 2013).
struct Cues {
    tempo: (f64, f64),
    major: bool,
    velocity: (i32, i32),
    accent: i32,
    /// Sounding fraction of each note's written length.
    articulation: (f64, f64),
    /// Mean MIDI pitch of the top voice.
    register: (f64, f64),
    reverb: i32,
    dissonance: bool,
    /// GM programs (0-based) per set.
    western: &'static [(i32, &'static str)],
    chinese: &'static [(i32, &'static str)],
    /// Accompaniment of single-line tunes: (program, name).
    accomp_western: (i32, &'static str),
    accomp_chinese: (i32, &'static str),
}

const CUES: [Cues; 4] = [
    // Q1: happy / excited.
    Cues {
        tempo: (132.0, 168.0),
        major: true,
        velocity: (96, 112),
        accent: 12,
        articulation: (0.35, 0.55),
        register: (74.0, 82.0),
        reverb: 25,
        dissonance: false,
        western: &[
            (1, "bright piano"),
            (13, "xylophone"),
            (12, "marimba"),
            (72, "piccolo"),
            (45, "pizzicato strings"),
            (9, "glockenspiel"),
        ],
        chinese: &[
            (107, "koto (guzheng-like)"),
            (15, "dulcimer (yangqin-like)"),
            (106, "shamisen (sanxian-like)"),
            (72, "piccolo (bangdi-like)"),
        ],
        accomp_western: (0, "piano"),
        accomp_chinese: (15, "dulcimer"),
    },
    // Q2: tense / angry.
    Cues {
        tempo: (132.0, 176.0),
        major: false,
        velocity: (106, 120),
        accent: 7,
        articulation: (0.7, 0.9),
        register: (50.0, 60.0),
        reverb: 15,
        dissonance: true,
        western: &[
            (30, "distortion guitar"),
            (29, "overdriven guitar"),
            (61, "brass section"),
            (57, "trombone"),
            (62, "synth brass"),
        ],
        chinese: &[
            (111, "shanai (suona-like)"),
            (110, "fiddle (jinghu-like)"),
            (106, "shamisen"),
            (109, "bag pipe"),
        ],
        accomp_western: (47, "timpani"),
        accomp_chinese: (116, "taiko drum"),
    },
    // Q3: sad / depressed.
    Cues {
        tempo: (44.0, 62.0),
        major: false,
        velocity: (34, 52),
        accent: 0,
        articulation: (0.95, 1.0),
        register: (46.0, 56.0),
        reverb: 70,
        dissonance: false,
        western: &[
            (42, "cello"),
            (70, "bassoon"),
            (60, "french horn"),
            (71, "clarinet"),
        ],
        chinese: &[
            (77, "shakuhachi (xiao-like)"),
            (110, "fiddle (erhu-like)"),
            (42, "cello (erhu-like)"),
            (75, "pan flute"),
        ],
        accomp_western: (48, "string ensemble"),
        accomp_chinese: (48, "string ensemble"),
    },
    // Q4: calm / tender.
    Cues {
        tempo: (56.0, 76.0),
        major: true,
        velocity: (42, 62),
        accent: 0,
        articulation: (0.95, 1.0),
        register: (66.0, 76.0),
        reverb: 80,
        dissonance: false,
        western: &[
            (48, "string ensemble"),
            (73, "flute"),
            (24, "nylon guitar"),
            (46, "harp"),
            (89, "warm pad"),
            (0, "piano"),
        ],
        chinese: &[
            (75, "pan flute"),
            (73, "flute (dizi-like)"),
            (107, "koto (guzheng-like)"),
            (46, "harp (guzheng-like)"),
        ],
        accomp_western: (46, "harp"),
        accomp_chinese: (46, "harp"),
    },
];

/// One note event: time in seconds, channel, key, velocity (0 = off).
#[derive(Debug, Clone, Copy)]
struct Ev {
    t: f64,
    ch: i32,
    key: i32,
    vel: i32,
}

/// What a clip was made of (written to clips.csv).
#[derive(Debug, Clone, Serialize)]
struct ClipInfo {
    file: String,
    quadrant: usize,
    melody: String,
    collection: String,
    source: String,
    title: String,
    tempo_bpm: f64,
    mode: &'static str,
    transpose: i32,
    velocity: i32,
    articulation: f64,
    program: i32,
    instrument: &'static str,
    accompaniment: String,
    reverb: i32,
    dissonance: bool,
}

/// Moves a pitch between major and minor: the 3rd, 6th and 7th degrees of the tonic are
/// lowered (major -> natural minor) or raised (minor -> major).
fn change_mode(pitch: i32, tonic: i32, from_major: bool, to_major: bool) -> i32 {
    let deg = (pitch - tonic).rem_euclid(12);
    match (from_major, to_major) {
        (true, false) if matches!(deg, 4 | 9 | 11) => pitch - 1,
        (false, true) if matches!(deg, 3 | 8 | 10) => pitch + 1,
        _ => pitch,
    }
}

fn clamp_pitch(mut p: i32, lo: i32, hi: i32) -> i32 {
    while p < lo {
        p += 12;
    }
    while p > hi {
        p -= 12;
    }
    p
}

/// The note events of a clip: the melody transformed by the quadrant's cues, looped to
/// fill the clip.
fn arrange(piece: &Piece, q: usize, chinese: bool, rng: &mut StdRng) -> (Vec<Ev>, ClipInfo) {
    let cues = &CUES[q];
    let bpm = rng.random_range(cues.tempo.0..cues.tempo.1);
    let spq = 60.0 / bpm; // seconds per quarter note
    let from_major = piece.mode == "major";
    let top = &piece.parts[0];
    let n_top: usize = top.iter().map(|n| n.2.len()).sum();
    let mean_top = top
        .iter()
        .flat_map(|n| n.2.iter())
        .map(|&p| f64::from(p))
        .sum::<f64>()
        / n_top.max(1) as f64;
    let target = rng.random_range(cues.register.0..cues.register.1);
    let transpose = (target - mean_top).round() as i32;
    let base_vel = rng.random_range(cues.velocity.0..=cues.velocity.1);
    let artic = rng.random_range(cues.articulation.0..cues.articulation.1);
    let pool = if chinese { cues.chinese } else { cues.western };
    let (program, instrument) = pool[rng.random_range(0..pool.len())];
    let monophonic = piece.parts.len() == 1;
    let accomp = if chinese {
        cues.accomp_chinese
    } else {
        cues.accomp_western
    };
    let bar = piece.bar_ql.max(1.0);
    // Loop length: whole bars.
    let loop_ql = (piece.length_ql / bar).ceil() * bar;
    let loops = ((CLIP_SECONDS / spq) / loop_ql).ceil().max(1.0) as usize;
    let tonic = piece.tonic;
    let mut evs = Vec::new();
    let note = |evs: &mut Vec<Ev>, t: f64, len: f64, ch: i32, key: i32, vel: i32| {
        if t >= CLIP_SECONDS {
            return;
        }
        evs.push(Ev {
            t,
            ch,
            key,
            vel: vel.clamp(1, 127),
        });
        evs.push(Ev {
            t: (t + len).min(CLIP_SECONDS),
            ch,
            key,
            vel: 0,
        });
    };
    for l in 0..loops {
        let off = l as f64 * loop_ql;
        for (pi, part) in piece.parts.iter().enumerate().take(8) {
            let ch = pi as i32; // channels 0..7: the parts, one program
            for (onset, dur, pitches) in part {
                let t = (off + onset) * spq;
                let beat_pos = onset.rem_euclid(bar);
                let accent = if beat_pos < 1e-6 {
                    cues.accent
                } else if beat_pos.fract() < 1e-6 {
                    cues.accent / 2
                } else {
                    0
                };
                let jitter = rng.random_range(-4..=4);
                // Inner voices a little softer than the tune.
                let vel = base_vel + accent + jitter - if pi == 0 { 0 } else { 8 };
                for &p in pitches {
                    let key = clamp_pitch(
                        change_mode(p, tonic, from_major, cues.major) + transpose,
                        28,
                        100,
                    );
                    note(&mut evs, t, dur * spq * artic, ch, key, vel);
                    // Dissonance: a minor second or tritone against the tune on beats.
                    if cues.dissonance && pi == 0 && beat_pos.fract() < 1e-6 && rng.random_bool(0.6)
                    {
                        let iv = if rng.random_bool(0.5) { 1 } else { 6 };
                        note(
                            &mut evs,
                            t,
                            dur * spq * artic,
                            8,
                            clamp_pitch(key - iv, 28, 100),
                            vel - 10,
                        );
                    }
                }
            }
        }
        // Single-line tunes get a drone on the tonic and fifth at every bar (the tonic of
        // the transformed key, two octaves under the tune).
        if monophonic {
            let root = clamp_pitch(tonic + transpose, 24, 60);
            let root = if (root as f64) > target - 18.0 {
                root - 12
            } else {
                root
            };
            let mut bar_t = 0.0;
            while bar_t < loop_ql - 1e-6 {
                let t = (off + bar_t) * spq;
                let len = if q < 2 { bar * spq * 0.5 } else { bar * spq };
                let v = base_vel - 12;
                if accomp.0 == 116 || accomp.0 == 47 {
                    // Drum hits on the tonic, loud.
                    note(&mut evs, t, len, 9 + 1, clamp_pitch(root, 36, 55), v + 10);
                } else {
                    note(&mut evs, t, len, 9 + 1, clamp_pitch(root, 28, 80), v);
                    note(
                        &mut evs,
                        t,
                        len,
                        9 + 1,
                        clamp_pitch(root + 7, 28, 80),
                        v - 6,
                    );
                    if cues.dissonance {
                        note(
                            &mut evs,
                            t,
                            len,
                            9 + 1,
                            clamp_pitch(root + 6, 28, 80),
                            v - 4,
                        );
                    }
                }
                bar_t += bar;
            }
        }
    }
    // Off before on at the same instant.
    evs.sort_by(|a, b| a.t.total_cmp(&b.t).then((a.vel > 0).cmp(&(b.vel > 0))));
    let accomp_name = if monophonic {
        format!("{} ({})", accomp.1, accomp.0)
    } else {
        "none (the chorale's own voices)".into()
    };
    let info = ClipInfo {
        file: String::new(),
        quadrant: q + 1,
        melody: piece.id.clone(),
        collection: piece.collection.clone(),
        source: piece.source.clone(),
        title: piece.title.clone(),
        tempo_bpm: (bpm * 10.0).round() / 10.0,
        mode: if cues.major { "major" } else { "minor" },
        transpose,
        velocity: base_vel,
        articulation: (artic * 100.0).round() / 100.0,
        program,
        instrument,
        accompaniment: accomp_name,
        reverb: cues.reverb,
        dissonance: cues.dissonance,
    };
    (evs, info)
}

/// Renders note events through the soundfont; mono, `MUSIC_RATE`.
fn render(
    sf: &Arc<rustysynth::SoundFont>,
    evs: &[Ev],
    program: i32,
    accomp_program: i32,
    reverb: i32,
) -> Result<Vec<f32>> {
    let settings = rustysynth::SynthesizerSettings::new(MUSIC_RATE as i32);
    let mut syn = rustysynth::Synthesizer::new(sf, &settings)
        .map_err(|e| anyhow::anyhow!("synthesizer: {e:?}"))?;
    for ch in 0..16 {
        if ch == 9 {
            continue;
        }
        let prog = if ch == 10 { accomp_program } else { program };
        syn.process_midi_message(ch, 0xC0, prog, 0);
        syn.process_midi_message(ch, 0xB0, 7, 100); // volume
        syn.process_midi_message(ch, 0xB0, 91, reverb); // reverb send
        syn.process_midi_message(ch, 0xB0, 93, 0); // chorus
    }
    let total = (CLIP_SECONDS * f64::from(MUSIC_RATE)) as usize;
    let mut left = vec![0.0f32; total];
    let mut right = vec![0.0f32; total];
    let mut pos = 0usize;
    for e in evs {
        let at = ((e.t * f64::from(MUSIC_RATE)) as usize).min(total);
        if at > pos {
            syn.render(&mut left[pos..at], &mut right[pos..at]);
            pos = at;
        }
        if e.vel > 0 {
            syn.note_on(e.ch, e.key, e.vel);
        } else {
            syn.note_off(e.ch, e.key);
        }
    }
    if pos < total {
        syn.render(&mut left[pos..], &mut right[pos..]);
    }
    let mut mono: Vec<f32> = left
        .iter()
        .zip(&right)
        .map(|(l, r)| 0.5 * (l + r))
        .collect();
    // A fixed gain keeps the loudness cue; only clipping is prevented.
    let peak = mono.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    let gain = if peak * 1.5 > 0.98 { 0.98 / peak } else { 1.5 };
    let fade = (MUSIC_RATE as usize) / 2;
    for (i, x) in mono.iter_mut().enumerate() {
        *x *= gain;
        if i + fade > total {
            *x *= (total - i) as f32 / fade as f32;
        }
    }
    Ok(mono)
}

fn quadrant_signs(q: usize) -> (&'static str, &'static str) {
    let a = if q < 2 { "positive" } else { "negative" };
    let v = if q == 0 || q == 3 {
        "positive"
    } else {
        "negative"
    };
    (a, v)
}

fn build_music_rendered(ctx: &Ctx) -> Result<Produced> {
    let m: Melodies = serde_json::from_slice(&std::fs::read(melodies_path(ctx))?)?;
    let sf_path = files_under(&ctx.debs["fluid-soundfont-gm"].root, &["sf2"])
        .into_iter()
        .next()
        .context("fluid-soundfont-gm holds no .sf2")?;
    let t = Instant::now();
    let sf = Arc::new(
        rustysynth::SoundFont::new(&mut std::io::BufReader::new(std::fs::File::open(&sf_path)?))
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", sf_path.display()))?,
    );
    eprintln!("  soundfont loaded in {:.1} s", t.elapsed().as_secs_f64());
    let mut files = Vec::new();
    let mut stats = serde_json::Map::new();
    for (set, pieces, chinese) in [
        ("western", &m.western, false),
        ("chinese", &m.chinese, true),
    ] {
        let dir = ctx.out.join("music").join(set);
        let n = ctx.plan.clips_per_quadrant * 4;
        let mut order: Vec<usize> = (0..pieces.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(if chinese { 2 } else { 1 }));
        let clips: Vec<Result<ClipInfo>> = (0..n)
            .into_par_iter()
            .map(|k| {
                let q = k % 4;
                let piece = &pieces[order[k % order.len()]];
                let mut rng =
                    StdRng::seed_from_u64((if chinese { 1u64 << 40 } else { 0 }) | k as u64);
                let (evs, mut info) = arrange(piece, q, chinese, &mut rng);
                let accomp = CUES[q].accomp_western.0;
                let accomp = if chinese {
                    CUES[q].accomp_chinese.0
                } else {
                    accomp
                };
                let audio = render(&sf, &evs, info.program, accomp, info.reverb)?;
                let rel = format!("audio/Q{}/{set}-{k:04}.wav", q + 1);
                write_wav(&dir.join(&rel), &audio, MUSIC_RATE)?;
                info.file = rel;
                Ok(info)
            })
            .collect();
        let clips: Vec<ClipInfo> = clips.into_iter().collect::<Result<_>>()?;
        let mut ann = csv::Writer::from_writer(Vec::new());
        ann.write_record(["Songs", "Quads", "Arousal", "Valence"])?;
        let mut detail = csv::Writer::from_writer(Vec::new());
        for c in &clips {
            let (a, v) = quadrant_signs(c.quadrant - 1);
            ann.write_record([c.file.as_str(), &format!("Q{}", c.quadrant), a, v])?;
            detail.serialize(c)?;
            files.push(dir.join(&c.file));
        }
        let ann_path = dir.join("annotations.csv");
        io::write_atomic(&ann_path, &ann.into_inner()?)?;
        let det_path = dir.join("clips.csv");
        io::write_atomic(&det_path, &detail.into_inner()?)?;
        files.push(ann_path);
        files.push(det_path);
        let melodies: std::collections::BTreeSet<&str> =
            clips.iter().map(|c| c.melody.as_str()).collect();
        let mut collections: BTreeMap<String, usize> = BTreeMap::new();
        for c in &clips {
            *collections.entry(c.collection.clone()).or_default() += 1;
        }
        stats.insert(
            set.into(),
            json!({"clips": clips.len(), "per_quadrant": ctx.plan.clips_per_quadrant,
                   "melodies": melodies.len(), "minutes": clips.len() as f64 * CLIP_SECONDS / 60.0,
                   "collections": collections}),
        );
    }
    Ok((files, serde_json::Value::Object(stats)))
}

/// music/both.csv: the western and chinese sets in one CSV (paths relative to music/), for
/// models trained on both sets, as the shipped ones are.
fn build_music_both(ctx: &Ctx) -> Result<Produced> {
    let music = ctx.out.join("music");
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["Songs", "Quads", "Arousal", "Valence"])?;
    let mut rows = 0usize;
    for set in ["western", "chinese"] {
        let path = music.join(set).join("annotations.csv");
        let mut r = csv::Reader::from_path(&path).with_context(|| format!("{}", path.display()))?;
        for rec in r.records() {
            let rec = rec.with_context(|| format!("{}", path.display()))?;
            let song = format!("{set}/{}", rec.get(0).unwrap_or_default());
            let rest: Vec<&str> = rec.iter().skip(1).collect();
            out.write_record(std::iter::once(song.as_str()).chain(rest))?;
            rows += 1;
        }
    }
    let path = music.join("both.csv");
    io::write_atomic(&path, &out.into_inner()?)?;
    Ok((vec![path], json!({ "clips": rows })))
}

// ---------------------------------------------------------------------------------------
// Music: real recordings labelled from their titles
// ---------------------------------------------------------------------------------------

/// Wesnoth's tracks whose title states a mood: (file stem, quadrant 1-4, the cue in the
/// title, defensible). Defensible: the title names an emotion or a situation with an
/// unambiguous conventional scoring (battle, defeat, victory, love theme). The others are
/// guesses kept for review only.
const WESNOTH_LABELS: &[(&str, usize, &str, bool)] = &[
    ("victory", 1, "title: 'victory'", true),
    ("victory2", 1, "title: 'victory'", true),
    ("battle", 2, "title: 'battle'", true),
    ("battle-epic", 2, "title: 'battle'", true),
    ("frantic", 2, "title: 'frantic'", true),
    ("frantic-old", 2, "title: 'frantic'", true),
    ("vengeful", 2, "title: 'vengeful'", true),
    ("suspense", 2, "title: 'suspense' (tense)", true),
    ("sad", 3, "title: 'sad'", true),
    ("defeat", 3, "title: 'defeat'", true),
    ("defeat2", 3, "title: 'defeat'", true),
    ("love_theme", 4, "title: 'love theme'", true),
    // Guesses from less direct titles: not defensible.
    (
        "heroes_rite",
        1,
        "title: 'heroes' (guess: triumphant)",
        false,
    ),
    (
        "traveling_minstrels",
        1,
        "title: 'minstrels' (guess: cheerful)",
        false,
    ),
    (
        "breaking_the_chains",
        1,
        "title: 'breaking the chains' (guess: triumphant)",
        false,
    ),
    (
        "siege_of_laurelmor",
        2,
        "title: 'siege' (guess: battle)",
        false,
    ),
    (
        "weight_of_revenge",
        2,
        "title: 'revenge' (guess: anger)",
        false,
    ),
    (
        "the_dangerous_symphony",
        2,
        "title: 'dangerous' (guess: tense)",
        false,
    ),
    (
        "casualties_of_war",
        3,
        "title: 'casualties' (guess: grief)",
        false,
    ),
    (
        "the_king_is_dead",
        3,
        "title: 'the king is dead' (guess: grief)",
        false,
    ),
    (
        "the_city_falls",
        3,
        "title: 'the city falls' (guess: loss)",
        false,
    ),
    (
        "into_the_shadows",
        3,
        "title: 'shadows' (guess: dark)",
        false,
    ),
    (
        "silvan_sanctuary",
        4,
        "title: 'sanctuary' (guess: peaceful)",
        false,
    ),
    (
        "nunc_dimittis",
        4,
        "title: 'nunc dimittis' (guess: peaceful)",
        false,
    ),
    (
        "journeys_end",
        4,
        "title: 'journey's end' (guess: calm)",
        false,
    ),
    ("silence", 4, "title: 'silence' (guess: calm)", false),
];

fn build_music_real(ctx: &Ctx) -> Result<Produced> {
    let deb = &ctx.debs["wesnoth-1.16-music"];
    let tracks = files_under(&deb.root, &["ogg"]);
    let dir = ctx.out.join("music/real");
    let by_stem: BTreeMap<String, PathBuf> = tracks
        .iter()
        .map(|p| {
            (
                p.file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                p.clone(),
            )
        })
        .collect();
    let chosen: Vec<&(&str, usize, &str, bool)> = WESNOTH_LABELS
        .iter()
        .filter(|l| !ctx.plan.small || l.3)
        .collect();
    let results: Vec<Result<Vec<RealClip>>> = chosen
        .par_iter()
        .map(|(stem, q, source, defensible)| {
            let Some(path) = by_stem.get(*stem) else {
                return Ok(Vec::new());
            };
            let (s, rate) = read_mono(path)?;
            let s = resample(&s, rate, MUSIC_RATE)?;
            let len = (CLIP_SECONDS * f64::from(MUSIC_RATE)) as usize;
            let mut out = Vec::new();
            let n = s.len() / len;
            if n == 0 {
                // A jingle (victory, defeat) shorter than a clip: the whole track, if >= 5 s.
                if s.len() >= 5 * MUSIC_RATE as usize {
                    let rel = format!("audio/{stem}-00.wav");
                    write_wav(&dir.join(&rel), &s, MUSIC_RATE)?;
                    let secs = s.len() as f64 / f64::from(MUSIC_RATE);
                    out.push((rel, *q, *source, *defensible, stem.to_string(), 0.0, secs));
                }
                return Ok(out);
            }
            // At most `real_clips_per_track` clips, spread evenly over the track.
            let k = n.min(ctx.plan.real_clips_per_track);
            for j in 0..k {
                let i = j * n / k;
                let rel = format!("audio/{stem}-{i:02}.wav");
                write_wav(&dir.join(&rel), &s[i * len..(i + 1) * len], MUSIC_RATE)?;
                out.push((
                    rel,
                    *q,
                    *source,
                    *defensible,
                    stem.to_string(),
                    i as f64 * CLIP_SECONDS,
                    CLIP_SECONDS,
                ));
            }
            Ok(out)
        })
        .collect();
    let mut rows = Vec::new();
    for r in results {
        rows.extend(r?);
    }
    let header = [
        "Songs",
        "Quads",
        "Arousal",
        "Valence",
        "LabelSource",
        "Defensible",
        "Package",
        "Track",
        "StartSeconds",
    ];
    let mut all = csv::Writer::from_writer(Vec::new());
    let mut good = csv::Writer::from_writer(Vec::new());
    all.write_record(header)?;
    good.write_record(header)?;
    let mut files = Vec::new();
    let mut counts = [[0usize; 4]; 2];
    for (rel, q, source, defensible, stem, start, _) in &rows {
        let (a, v) = quadrant_signs(q - 1);
        let pkg = format!("{} {}", deb.name, deb.version);
        let rec = [
            rel.as_str(),
            &format!("Q{q}"),
            a,
            v,
            source,
            if *defensible { "yes" } else { "no" },
            &pkg,
            &format!("{stem}.ogg"),
            &format!("{start:.0}"),
        ];
        all.write_record(rec)?;
        if *defensible {
            good.write_record(rec)?;
        }
        counts[usize::from(!defensible)][q - 1] += 1;
        files.push(dir.join(rel));
    }
    let p_all = dir.join("review.csv");
    let p_good = dir.join("annotations.csv");
    std::fs::create_dir_all(&dir)?;
    io::write_atomic(&p_all, &all.into_inner()?)?;
    io::write_atomic(&p_good, &good.into_inner()?)?;
    files.push(p_all);
    files.push(p_good);
    let unused: Vec<String> = by_stem
        .keys()
        .filter(|k| !WESNOTH_LABELS.iter().any(|l| l.0 == k.as_str()))
        .cloned()
        .collect();
    Ok((
        files,
        json!({"defensible_per_quadrant": counts[0], "guess_per_quadrant": counts[1],
               "tracks": tracks.len(), "unlabelled_tracks": unused,
               "minutes": rows.iter().map(|r| r.6).sum::<f64>() / 60.0,
               "defensible_minutes": rows.iter().filter(|r| r.3).map(|r| r.6).sum::<f64>() / 60.0}),
    ))
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

fn minutes(v: &serde_json::Value, stage: &str, source: &str) -> f64 {
    v.get(stage)
        .and_then(|s| s.get("sources"))
        .and_then(|s| s.get(source))
        .and_then(|x| x.get(1))
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
        / 60.0
}

/// `{"a": 1, "b": 2}` as "a 1, b 2"; `[1, 2, 3, 4]` as "Q1 1, Q2 2, Q3 3, Q4 4".
fn counts_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| format!("Q{} {v}", i + 1))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

fn write_report(ctx: &Ctx, total_secs: f64) -> Result<()> {
    let stats = serde_json::to_value(&ctx.stats)?;
    let mut md = String::new();
    let plan = &ctx.plan;
    md.push_str(&format!(
        "# Demo corpora ({})\n\nBuilt by `trainer corpus demo{}` (corpus format v{CORPUS_VERSION}). \
         Stand-ins for the paper's corpora (LibriSpeech, AISHELL-1, 4Q-emotion, CH-818), assembled \
         from openly licensed material in Debian and PyPI: no package ships hours of speech per \
         language or music labelled with emotion. naev-data and flare-game are not used anywhere \
         (kept aside for independent evaluation).\n\n",
        if plan.small { "small" } else { "full" },
        if plan.small { " --small" } else { "" }
    ));
    md.push_str(
        "```sh\ntrainer reproduce --speech-en speech/eng --speech-man speech/man \\\n    \
         --music-en music/western/annotations.csv --music-man music/chinese/annotations.csv --out runs\n```\n\n",
    );

    // Speech.
    let speech_total = |stage: &str| {
        stats
            .get(stage)
            .and_then(|s| s.get("sources"))
            .and_then(|s| s.as_object())
            .map_or(0.0, |m| {
                m.values()
                    .filter_map(|v| v.get(1).and_then(serde_json::Value::as_f64))
                    .sum::<f64>()
            })
    };
    md.push_str("## Speech\n\n| language | folder | source | kind | files | minutes |\n|---|---|---|---|---|---|\n");
    for (stage, lang, folder) in [
        ("speech-eng", "English", "speech/eng"),
        ("speech-man", "Mandarin", "speech/man"),
    ] {
        if let Some(src) = stats
            .get(stage)
            .and_then(|s| s.get("sources"))
            .and_then(|s| s.as_object())
        {
            for (name, v) in src {
                let kind = if name.starts_with("festival") || name.starts_with("espeak") {
                    "text-to-speech"
                } else if name == "gcin-voice" {
                    "real syllables, concatenated"
                } else {
                    "real recordings"
                };
                md.push_str(&format!(
                    "| {lang} | {folder} | {name} | {kind} | {} | {:.1} |\n",
                    v.get(0).and_then(serde_json::Value::as_u64).unwrap_or(0),
                    v.get(1).and_then(serde_json::Value::as_f64).unwrap_or(0.0) / 60.0
                ));
            }
            md.push_str(&format!(
                "| {lang} | {folder} | **total** | | | **{:.1}** ({:.2} h) |\n",
                speech_total(stage) / 60.0,
                speech_total(stage) / 3600.0
            ));
        }
    }
    let real_en: f64 = [
        "pocketsphinx-testdata",
        "asterisk-core-sounds-en-wav",
        "codec2-examples",
        "fillets-ng-data",
    ]
    .iter()
    .map(|s| minutes(&stats, "speech-eng", s))
    .sum();
    md.push_str(&format!(
        "\nAll speech is 16 kHz mono 16-bit WAV, peak-scaled to 0.9. English: {real_en:.1} min of \
         real recordings (pocketsphinx-testdata's LibriVox and command clips, Asterisk's prompts \
         read by one speaker at 8 kHz, codec2's test speakers, Fish Fillets' English dialogue, \
         several actors), the rest text-to-speech over fortune-mod's English fortunes (filtered \
         to plain sentences): festival's HTS voice cmu_us_slt_arctic_hts at speeds 0.8-1.25 and \
         pitch shifts of -2..+2.5 semitones, festival's diphone voice kal_diphone with \
         Duration_Stretch 0.8-1.3, espeak-ng en-us with seven voice variants at 125-205 words \
         per minute. Mandarin: gcin-voice's recordings of single syllables (two speakers, \
         files 3.ogg and 5.ogg, trimmed of silence) concatenated along real Chinese sentences \
         (fortunes-zh: Tang and Song poems and prose) converted to zhuyin by pypinyin, with \
         random gaps of 5-100 ms between syllables, pauses of 180-350 ms at commas and a speed \
         change of 0.93-1.08; then espeak-ng `cmn-latn-pinyin` (six voice variants, 110-190 \
         wpm) over the following sentences in tone-numbered pinyin (pypinyin TONE3; `-v cmn` \
         is broken in Debian's espeak-ng 1.51). gcin syllables missing from the recordings \
         were skipped ({} lookups).\n\n",
        stats["speech-man"]["gcin_missing_syllables"]
            .as_u64()
            .unwrap_or(0)
    ));

    // Music.
    md.push_str("## Music\n\n| set | folder | stands in for | clips | per quadrant | melodies | minutes |\n|---|---|---|---|---|---|---|\n");
    for (set, like) in [
        ("western", "4Q-emotion (English)"),
        ("chinese", "CH-818 (Mandarin)"),
    ] {
        let s = &stats["music-rendered"][set];
        md.push_str(&format!(
            "| {set} | music/{set}/annotations.csv | {like} | {} | {} | {} | {:.1} |\n",
            s["clips"],
            s["per_quadrant"],
            s["melodies"],
            s["minutes"].as_f64().unwrap_or(0.0)
        ));
    }
    md.push_str(&format!(
        "| both | music/both.csv | the two sets together (the shipped models' training set) | {} | | | |\n",
        stats["music-both"]["clips"]
    ));
    let r = &stats["music-real"];
    let sum = |v: &serde_json::Value| {
        v.as_array().map_or(0, |a| {
            a.iter().filter_map(serde_json::Value::as_u64).sum::<u64>()
        })
    };
    md.push_str(&format!(
        "| real | music/real/annotations.csv | (evaluation on real music) | {} | {} | {} tracks | {:.1} |\n\n",
        sum(&r["defensible_per_quadrant"]),
        counts_text(&r["defensible_per_quadrant"]),
        WESNOTH_LABELS.iter().filter(|l| l.3).count(),
        r["defensible_minutes"].as_f64().unwrap_or(0.0)
    ));
    md.push_str(&format!(
        "Melody sources (clips per collection): western {}; chinese {}.\n\n",
        counts_text(&stats["music-rendered"]["western"]["collections"]),
        counts_text(&stats["music-rendered"]["chinese"]["collections"])
    ));
    md.push_str(
        "### How the rendered sets were labelled\n\n\
         The label is the design: each clip is a real melody (music21's corpus: Bach's chorales \
         in four voices and European folk tunes of the Essen collection for `western`; Han \
         Chinese folk tunes of the Essen collection, han1/han2, for `chinese`) rendered with the \
         cues that listeners associate with its quadrant in the music-psychology literature \
         (Juslin & Laukka 2003, *Psychological Bulletin* 129(5); Gabrielsson & Lindström 2010, \
         in *Handbook of Music and Emotion*; Eerola & Vuoskoski 2013, *Music Perception* 30(3)):\n\n\
         | quadrant | tempo (bpm) | mode | loudness (MIDI velocity) | articulation (sounding fraction) | register (mean MIDI pitch of the tune) | timbre, western | timbre, chinese | other |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for (q, c) in CUES.iter().enumerate() {
        let names = |p: &[(i32, &str)]| {
            p.iter()
                .map(|x| format!("{} ({})", x.1, x.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        md.push_str(&format!(
            "| Q{} | {:.0}-{:.0} | {} | {}-{}, accents +{} | {:.2}-{:.2} | {:.0}-{:.0} | {} | {} | reverb send {}{} |\n",
            q + 1,
            c.tempo.0,
            c.tempo.1,
            if c.major { "major" } else { "minor" },
            c.velocity.0,
            c.velocity.1,
            c.accent,
            c.articulation.0,
            c.articulation.1,
            c.register.0,
            c.register.1,
            names(c.western),
            names(c.chinese),
            c.reverb,
            if c.dissonance { "; dissonance: minor seconds and tritones against the tune, tritone in the drone" } else { "" }
        ));
    }
    md.push_str(
        "\nThe tune's key is found by music21 (Krumhansl-Schmuckler); mode changes lower the 3rd, \
         6th and 7th degrees (major to natural minor) or raise them (minor to major), which keeps \
         pentatonic tunes pentatonic in shape. The whole piece is transposed so that its tune's \
         mean pitch lands in the quadrant's register. Single-line tunes get a drone (tonic and \
         fifth, or a drum for Q2) on each bar; chorales keep their four voices. Each clip uses a \
         different melody where the corpus has enough (melodies are shuffled and dealt to the \
         quadrants in turn) and is looped to 30 s, rendered with rustysynth through \
         FluidR3_GM (fluid-soundfont-gm) at 22.05 kHz mono with a fixed gain (so loudness stays \
         a cue) and a 0.5-s fade-out. GM programs are 0-based. `clips.csv` beside each \
         `annotations.csv` lists every clip's melody, source, tempo, mode, transposition, \
         velocity, articulation and instrument. These labels are by construction: they measure \
         whether a model hears the cues, not what listeners felt.\n\n",
    );
    md.push_str(&format!(
        "### How the real music was labelled\n\n\
         Wesnoth's soundtrack (wesnoth-1.16-music) cut into 30-s clips, resampled to 22.05 kHz mono. The quadrant comes from the track \
         title only; every row of `music/real/review.csv` names its source (`LabelSource`) and \
         whether it is defensible. **Defensible** (used for training and reporting, in \
         `music/real/annotations.csv`): titles that name an emotion or a situation with a \
         conventional scoring: victory (Q1); battle, frantic, vengeful, suspense (Q2); sad, \
         defeat (Q3); love theme (Q4). Q4 and Q1 rest on one and two tracks, so the set is \
         unbalanced ({}); clips of one track are not independent. At most {} clips per track, \
         spread evenly over it; jingles shorter than 30 s (victory, defeat: 5-21 s) are one \
         clip of their own length. **Not defensible** \
         (in review.csv only, never for training or reporting): guesses from indirect titles \
         (heroes, minstrels, siege, revenge, casualties, sanctuary, silence...). Tracks whose \
         titles state no mood are not used: {}. Other Debian game-music packages were examined \
         for title labels and not used here: singularity-music and warzone2100-music title \
         their tracks without a mood (\"Enemy Unknown\", \"Nuclear Heartbeat\", \"Track \
         3\"), and warzone2100's are Opus, which the trainer does not decode. Labels read \
         from the games' data instead of titles are in music/games (below).\n\n",
        counts_text(&r["defensible_per_quadrant"]),
        ctx.plan.real_clips_per_track,
        r["unlabelled_tracks"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    ));

    if stats.get(games::STAGE).is_some() {
        md.push_str(&games::report(ctx, &stats));
    }

    // Sources.
    let used_min = |name: &str| -> String {
        let m = match name {
            "gcin-voice" => minutes(&stats, "speech-man", name),
            "fluid-soundfont-gm" => {
                stats["music-rendered"]["western"]["minutes"]
                    .as_f64()
                    .unwrap_or(0.0)
                    + stats["music-rendered"]["chinese"]["minutes"]
                        .as_f64()
                        .unwrap_or(0.0)
            }
            "wesnoth-1.16-music" => {
                r["minutes"].as_f64().unwrap_or(0.0)
                    + games::package_minutes(&stats, name).unwrap_or(0.0)
            }
            _ if games::package_minutes(&stats, name).is_some() => {
                games::package_minutes(&stats, name).unwrap_or(0.0)
            }
            "fortunes" | "fortunes-zh" => return "text".into(),
            "ufoai-common" | "singularity" | "colobot-common" | "wesnoth-1.16-data" => {
                return "game data".into();
            }
            _ => minutes(&stats, "speech-eng", name),
        };
        format!("{m:.1}")
    };
    md.push_str(
        "## Sources\n\nDebian packages (bookworm) fetched with `apt-get download`, SHA-256 checked \
         against the apt index (whose Release file apt checks against Debian's keys), extracted \
         with `dpkg-deb -x`; licences from each package's `usr/share/doc/PKG/copyright`.\n\n\
         | package | version | licence | .deb size | minutes used | SHA-256 |\n|---|---|---|---|---|---|\n",
    );
    for d in ctx.debs.values() {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} MB | {} | `{}` |\n",
            d.name,
            d.version,
            d.licence,
            d.size as f64 / 1e6,
            used_min(&d.name),
            d.sha256
        ));
    }
    let lic_dir = ctx.out.join("licences");
    std::fs::create_dir_all(&lic_dir)?;
    for d in ctx.debs.values() {
        let src = d.root.join("usr/share/doc").join(&d.name).join("copyright");
        if src.is_file() {
            std::fs::copy(&src, lic_dir.join(format!("{}.copyright", d.name)))?;
        }
    }
    md.push_str(
        "\nEach package's copyright file is copied to `licences/PKG.copyright`; licences \
         shown for free-text copyright files are the ones those files name.\n",
    );
    md.push_str("\nTools installed with apt-get (text-to-speech; minutes in the speech table):\n\n| package | version | licence | SHA-256 (apt index) |\n|---|---|---|---|\n");
    for t in &ctx.tools {
        md.push_str(&format!(
            "| {} | {} | {} | `{}` |\n",
            t.name, t.version, t.licence, t.sha256
        ));
    }
    md.push_str("\nPyPI wheels (pinned SHA-256), in a virtual environment in the download cache:\n\n| package | version | licence | used for | SHA-256 |\n|---|---|---|---|---|\n");
    for w in &ctx.wheels {
        let used = if w.name == "music21" {
            "the melodies (its corpus) and their keys"
        } else {
            "Chinese text to pinyin and zhuyin"
        };
        md.push_str(&format!(
            "| {} | {} | {} | {used} | `{}` |\n",
            w.name, w.version, w.licence, w.sha256
        ));
    }
    md.push_str("\nrustysynth (crates.io, MIT) renders the soundfont.\n\n");

    // Times.
    md.push_str(&format!(
        "## Build time\n\nOn {} cores. \"built\" is the time the stage took when it was built; a \
         stage whose inputs did not change is skipped on the next run.\n\n| stage | this run (s) | built (s) |\n|---|---|---|\n",
        rayon::current_num_threads()
    ));
    for (name, now, built, skipped) in &ctx.times {
        md.push_str(&format!(
            "| {name} | {} | {built:.1} |\n",
            if *skipped {
                "skipped".to_string()
            } else {
                format!("{now:.1}")
            }
        ));
    }
    md.push_str(&format!("| **total** | {total_secs:.1} | |\n"));
    io::write_atomic(&ctx.out.join("CORPORA.md"), md.as_bytes())?;

    let manifest = json!({
        "version": CORPUS_VERSION,
        "small": plan.small,
        "debs": ctx.debs.values().collect::<Vec<_>>(),
        "tools": ctx.tools,
        "wheels": ctx.wheels,
        "stats": stats,
        "times": ctx.times.iter().map(|t| json!({"stage": t.0, "seconds": t.1, "built_seconds": t.2, "skipped": t.3})).collect::<Vec<_>>(),
        "held_out": HELD_OUT,
    });
    io::write_atomic(
        &ctx.out.join("corpus.json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zhuyin_to_gcin_folder() {
        assert_eq!(gcin_name("ㄇㄠ"), "ㄇㄠ");
        assert_eq!(gcin_name("ㄧㄠˋ"), "ㄧㄠ4");
        assert_eq!(gcin_name("ㄉㄜ˙"), "ㄉㄜ1");
        assert_eq!(gcin_name("˙ㄉㄜ"), "ㄉㄜ1");
        assert_eq!(gcin_name("ㄌㄧˇ"), "ㄌㄧ3");
    }

    #[test]
    fn mode_change_moves_third_sixth_seventh() {
        // C major -> C minor: E, A, B lowered; C, D, F, G kept.
        let c_major = [60, 62, 64, 65, 67, 69, 71];
        let minor: Vec<i32> = c_major
            .iter()
            .map(|&p| change_mode(p, 0, true, false))
            .collect();
        assert_eq!(minor, [60, 62, 63, 65, 67, 68, 70]);
        let back: Vec<i32> = minor
            .iter()
            .map(|&p| change_mode(p, 0, false, true))
            .collect();
        assert_eq!(back, c_major);
    }

    #[test]
    fn licences_from_dep5() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("copyright");
        std::fs::write(&p, "Files: *\nLicense: GPL-2+\n\nFiles: a\nLicense: CC-BY-3\n\nFiles: b\nLicense: GPL-2+\n").unwrap();
        assert_eq!(licence_of(&p), "GPL-2+; CC-BY-3");
    }
}
