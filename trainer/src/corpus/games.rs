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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{
    CLIP_SECONDS, Ctx, Deb, MUSIC_RATE, Produced, Wheel, fetch_deb, fetch_wheel, have, hex, io,
    read_mono, resample, run_cmd, sha256_file, write_wav,
};

pub(super) const STAGE: &str = "music-games";
/// The label source of the rendered clips in `shipped.csv`: set by construction.
const RENDERED_SOURCE: &str = "rendered: the quadrant's cues, by construction";
pub(super) const TEACHER_PY: &str = include_str!("../../../scripts/corpus/teacher.py");

/// The games whose clips form `heldout.csv` (and each its own `heldout-GAME.csv`); every
/// other game is in `train.csv`. Their arousal labels come from the game: 0 A.D.'s peace
/// vs battle music states, UFO:AI's geoscape vs battlescape/aircombat playlists (ambient
/// tactical music, whose label the teacher disagrees with: the harder test).
pub const HELD_OUT_GAMES: [&str; 2] = ["0ad", "ufoai"];
/// Clips quieter than this (RMS, dBFS) are skipped: the teacher scores silence as positive.
const SILENCE_DBFS: f64 = -45.0;
/// Tracks shorter than one clip (stingers) give one clip of their own length if at least
/// this long.
const MIN_STINGER_SECONDS: f64 = 5.0;

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

/// The teacher's wheels for CPython 3.11 on x86-64 Linux, installed with `--no-deps`
/// (exactly what vibenet needs to score a file): (name, version, SHA-256, licence as its
/// metadata states it).
const TEACHER_WHEELS: &[(&str, &str, &str, &str)] = &[
    (
        "audioread",
        "3.1.0",
        "b30d1df6c5d3de5dcef0fb0e256f6ea17bdcf5f979408df0297d8a408e2971b4",
        "MIT",
    ),
    (
        "cffi",
        "2.1.1",
        "34e261f78cb6ceaaa36f42f2613f4380d94d9c759a9c73c769ee6e0247364632",
        "MIT-0",
    ),
    (
        "cloudpickle",
        "3.1.3",
        "1654f4f18e416447210a63c5c25a135d65a292156aa5fa519dfa4baf7726dddb",
        "BSD-3-Clause",
    ),
    (
        "decorator",
        "5.3.1",
        "f47fe6fdbd2edd623ecfe36875d37aba411624e2670dd395dddae1358689bb3c",
        "BSD-2-Clause",
    ),
    (
        "joblib",
        "1.6.0",
        "3dbbf9f6e4b592a2357b854608e980fe6390d131d7a82f011a377ef2ebef7aba",
        "BSD-3-Clause",
    ),
    (
        "lazy_loader",
        "0.6",
        "77253be3391b06124a0e16105bd663b6c54470af1a9ca8e1cf026f38d58ed056",
        "BSD-3-Clause",
    ),
    (
        "librosa",
        "0.11.0",
        "0b6415c4fd68bff4c29288abe67c6d80b587e0e1e2cfb0aad23e4559504a7fa1",
        "ISC",
    ),
    (
        "llvmlite",
        "0.50.0",
        "a6ffde00d4be8772a24e3e8b3af6bf86a79e7cf066d944ef56136b3957d707dc",
        "BSD-2-Clause AND Apache-2.0 WITH LLVM-exception",
    ),
    (
        "msgpack",
        "1.2.4",
        "a45ceb5f199d5e388f28b550ba881096a3740d4bda10e661d77f59d9a2e8187a",
        "Apache-2.0",
    ),
    (
        "numba",
        "0.68.1",
        "58fe7a3810261cf13797d8aa94c018cfe91e1e8adf634df60eb60ef834f9367b",
        "BSD-2-Clause",
    ),
    (
        "numpy",
        "2.4.6",
        "89cd468399cfd2504718f0ba50e410dca55a170b61a02ad92bb18c8a65186e93",
        "BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0",
    ),
    (
        "onnxruntime",
        "1.32.0",
        "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
        "MIT",
    ),
    (
        "packaging",
        "26.4",
        "81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2",
        "Apache-2.0 OR BSD-2-Clause",
    ),
    (
        "platformdirs",
        "4.14.9",
        "d0d3a23e7ff282cfa94b77f5a22b81030dcb68ba0430f90c74f4bd8d090782ea",
        "MIT",
    ),
    (
        "pooch",
        "1.9.0",
        "f265597baa9f760d25ceb29d0beb8186c243d6607b0f60b83ecf14078dbc703b",
        "BSD-3-Clause",
    ),
    (
        "pycparser",
        "3.12",
        "a076f3f489b39b43ed13563a1dafe42447445bec2e294154ec5c57fcdda4c85e",
        "BSD-3-Clause",
    ),
    (
        "pydub",
        "0.25.1",
        "65617e33033874b59d87db603aa1ed450633288aefead953b30bded59cb599a6",
        "MIT",
    ),
    (
        "scipy",
        "1.17.1",
        "43af8d1f3bea642559019edfe64e9b11192a8978efbd1539d7bc2aaa23d92de4",
        "BSD-3-Clause",
    ),
    (
        "soundfile",
        "0.14.0",
        "1e38bac1853412871318e82a1ba69a8be677619b56025bbfcccdb41b6cafe82d",
        "BSD-3-Clause (bundles libsndfile, LGPL-2.1-or-later)",
    ),
    (
        "soxr",
        "1.1.0",
        "3da87e3ffa3e41823d873b051c7ecb2acebd8d1b6b46b752f5facf10a0d84ab9",
        "LGPL-2.1-or-later",
    ),
    (
        "typing_extensions",
        "4.16.0",
        "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
        "PSF-2.0",
    ),
    (
        "vibenet",
        "0.1.0",
        "3474fd65a9723f0f58f511e77d1641ea937f11b8d75e906bcda2da9cad3094f5",
        "GPL-3.0-or-later",
    ),
];

// ---------------------------------------------------------------------------------------
// Preparation (downloads) and the stage key
// ---------------------------------------------------------------------------------------

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
    ctx.teacher_wheels = ensure_teacher(ctx)?;
    Ok(())
}

/// What the stage's key adds to the common one: the teacher (script and wheels).
pub(super) fn key_extra(ctx: &Ctx) -> String {
    format!(
        "{} {} held out: {:?}",
        teacher_key(),
        ctx.teacher_wheels.len(),
        HELD_OUT_GAMES
    )
}

/// Identifies the teacher's outputs: its script and its wheels.
fn teacher_key() -> String {
    let mut h = Sha256::new();
    h.update(TEACHER_PY);
    for w in TEACHER_WHEELS {
        h.update(format!("{} {} {}", w.0, w.1, w.2));
    }
    hex(&h.finalize())[..16].to_string()
}

fn teacher_python(ctx: &Ctx) -> PathBuf {
    ctx.cache.join("teacher-venv/bin/python")
}

/// A virtual environment in the cache with exactly the pinned wheels, installed with
/// `--no-deps` from files checked against their pinned SHA-256.
fn ensure_teacher(ctx: &Ctx) -> Result<Vec<Wheel>> {
    let venv = ctx.cache.join("teacher-venv");
    let py = teacher_python(ctx);
    let wheels_dir = ctx.cache.join("teacher-wheels");
    std::fs::create_dir_all(&wheels_dir)?;
    let marker = venv.join(".mer-ready");
    let want: String = TEACHER_WHEELS
        .iter()
        .map(|w| format!("{}={} ", w.0, w.2))
        .collect();
    let ready = std::fs::read_to_string(&marker).is_ok_and(|s| s == want) && py.is_file();
    if !ready {
        if !have("python3") {
            bail!("python3 not found (the teacher needs CPython 3.11 with venv)");
        }
        let v = run_cmd(
            Command::new("python3")
                .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]),
        )?;
        if v.trim() != "3.11" {
            bail!(
                "the teacher's pinned wheels are for CPython 3.11, but python3 is {}",
                v.trim()
            );
        }
        let _ = std::fs::remove_dir_all(&venv);
        eprintln!("python venv with the teacher (vibenet)");
        run_cmd(Command::new("python3").args(["-m", "venv"]).arg(&venv))
            .context("creating the teacher's virtual environment (install python3-venv)")?;
    }
    let mut files = Vec::new();
    let mut out = Vec::new();
    for (name, version, sha, licence) in TEACHER_WHEELS {
        let wheel = Wheel::pinned(name, version, sha, licence);
        files.push(fetch_wheel(&py, &wheels_dir, &wheel)?);
        out.push(wheel);
    }
    if !ready {
        run_cmd(
            Command::new(&py)
                .args(["-m", "pip", "install", "-q", "--no-deps", "--no-index"])
                .arg("--disable-pip-version-check")
                .args(&files),
        )
        .context("installing the teacher's wheels")?;
        std::fs::write(&marker, want)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Parsers of the games' data files
// ---------------------------------------------------------------------------------------

/// UFO:AI `.ufo` script: the named playlists `music NAME ( "track" ... )`; `//` starts a
/// comment (a commented-out track is not played).
fn ufo_playlists(text: &str) -> Vec<(String, Vec<String>)> {
    let mut tokens = Vec::new();
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            if c.is_whitespace() {
                rest = &rest[c.len_utf8()..];
            } else if c == '(' || c == ')' {
                tokens.push(c.to_string());
                rest = &rest[1..];
            } else if c == '"' {
                let end = rest[1..].find('"').map_or(rest.len(), |i| i + 1);
                tokens.push(format!("\"{}", &rest[1..end]));
                rest = rest.get(end + 1..).unwrap_or("");
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == '"')
                    .unwrap_or(rest.len());
                tokens.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i + 2 < tokens.len() {
        if tokens[i] == "music" && tokens[i + 2] == "(" {
            let name = tokens[i + 1].clone();
            let mut tracks = Vec::new();
            let mut j = i + 3;
            while j < tokens.len() && tokens[j] != ")" {
                if let Some(t) = tokens[j].strip_prefix('"') {
                    tracks.push(t.to_string());
                }
                j += 1;
            }
            out.push((name, tracks));
            i = j;
        }
        i += 1;
    }
    out
}

/// UFO:AI UI script: `(window, track)` for every `snd_music TRACK` inside a `window NAME`.
fn ufo_window_music(text: &str) -> Vec<(String, String)> {
    let mut window = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        if let Some(rest) = code.strip_prefix("window ") {
            window = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('{')
                .to_string();
        }
        let mut rest = code;
        while let Some(i) = rest.find("snd_music ") {
            rest = &rest[i + "snd_music ".len()..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| !matches!(c, ';' | '"') && !c.is_whitespace())
                .collect();
            if !name.is_empty() {
                out.push((window.clone(), name));
            }
        }
    }
    out
}

/// 0 A.D. `gui/common/music.js`: the default track lists per state
/// (`Music.prototype.DEFAULT_BATTLE_TRACKS = ["Taiko_1.ogg", ...];`).
fn zero_ad_defaults(js: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = js;
    while let Some(i) = rest.find("DEFAULT_") {
        rest = &rest[i + "DEFAULT_".len()..];
        let state = rest.split("_TRACKS").next().unwrap_or("");
        if state.is_empty() || !state.chars().all(|c| c.is_ascii_uppercase()) {
            continue;
        }
        let after = &rest[state.len() + "_TRACKS".len()..];
        let Some(body) = after.trim_start().strip_prefix('=') else {
            continue;
        };
        let body = &body[..body.find(';').unwrap_or(body.len())];
        let tracks: Vec<String> = body
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|s| s.ends_with(".ogg"))
            .map(String::from)
            .collect();
        out.push((state.to_ascii_lowercase(), tracks));
    }
    out
}

/// 0 A.D. `simulation/data/civs/CIV.json`: `"Music": [{"File": ..., "Type": ...}]`.
fn zero_ad_civ_music(json_text: &str) -> Result<Vec<(String, String)>> {
    let v: serde_json::Value = serde_json::from_str(json_text)?;
    Ok(v.get("Music")
        .and_then(|m| m.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|m| {
                    Some((
                        m.get("File")?.as_str()?.to_string(),
                        m.get("Type")?.as_str()?.to_ascii_lowercase(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The `key = "value"` attributes of the first `<TAG ...>` element in `xml` that has
/// attribute `must` (any element of that tag if `must` is empty).
fn xml_attrs(xml: &str, tag: &str, must: &str) -> Option<BTreeMap<String, String>> {
    let open = format!("<{tag}");
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        if !rest.starts_with(|c: char| c.is_whitespace() || c == '/' || c == '>') {
            continue;
        }
        let body = &rest[..rest.find('>').unwrap_or(rest.len())];
        let mut attrs = BTreeMap::new();
        let mut b = body;
        while let Some(eq) = b.find('=') {
            let key = b[..eq]
                .trim()
                .rsplit(char::is_whitespace)
                .next()
                .unwrap_or("")
                .to_string();
            let after = b[eq + 1..].trim_start();
            let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') else {
                break;
            };
            let close = after[1..].find(q).map_or(after.len(), |j| j + 1);
            attrs.insert(key, after[1..close].to_string());
            b = after.get(close + 1..).unwrap_or("");
        }
        if must.is_empty() || attrs.contains_key(must) {
            return Some(attrs);
        }
    }
    None
}

/// Extreme Tux Racer's `.lst` files: one record per `*` line, `[key] value` fields.
fn etr_records(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(line) = line.trim().strip_prefix('*') else {
            continue;
        };
        let mut rec = BTreeMap::new();
        for part in line.split('[').skip(1) {
            if let Some((k, v)) = part.split_once(']') {
                rec.insert(k.trim().to_string(), v.trim().to_string());
            }
        }
        out.push(rec);
    }
    out
}

/// Colobot level file: the music it plays (`Audio filename="music011.ogg" ...`).
fn colobot_audio(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.split("//").next()?.trim();
        let rest = l.strip_prefix("Audio")?;
        if !rest.starts_with(char::is_whitespace) {
            return None;
        }
        let i = rest.find("filename=\"")? + "filename=\"".len();
        let end = rest[i..].find('"')?;
        Some(rest[i..i + end].to_string())
    })
}

/// Wesnoth WML: the comma-separated values of `key="a,b"` at the top level of a file.
fn wml_list(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once('=')?;
            (k.trim() == key).then(|| {
                v.trim()
                    .trim_matches('"')
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
        })
        .flatten()
        .collect()
}

/// The licence of one file from a DEP-5 copyright file (the last `Files:` paragraph whose
/// patterns match `path`), if the file is DEP-5.
fn dep5_licence(text: &str, path: &str) -> Option<String> {
    let mut found = None;
    for para in text.split("\n\n") {
        let mut files = Vec::new();
        let mut licence = None;
        let mut in_files = false;
        for line in para.lines() {
            if let Some(f) = line.strip_prefix("Files:") {
                in_files = true;
                files.extend(f.split_whitespace().map(String::from));
            } else if in_files && line.starts_with([' ', '\t']) {
                files.extend(line.split_whitespace().map(String::from));
            } else {
                in_files = false;
                if let Some(l) = line.strip_prefix("License:") {
                    licence = Some(l.trim().to_string());
                }
            }
        }
        if let Some(l) = licence
            && !l.is_empty()
            && files.iter().any(|p| glob(p, path))
        {
            found = Some(l);
        }
    }
    found
}

/// DEP-5 patterns: `*` matches any run of characters (slashes too), `?` one character.
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

// ---------------------------------------------------------------------------------------
// Tracks and their cues, per game
// ---------------------------------------------------------------------------------------

/// A usage of a track that a game's data states, with the cue it gives (if any).
#[derive(Debug, Clone, PartialEq)]
struct Cue {
    /// The situation, e.g. `battlescape`, `victory`.
    usage: String,
    /// Where it is stated: `PACKAGE FILE WHAT`.
    source: String,
    arousal: Option<bool>,
    valence: Option<bool>,
}

#[derive(Debug, Clone)]
struct Track {
    game: &'static str,
    /// The package holding the audio.
    package: String,
    /// The track's path inside that package (`ARCHIVE:MEMBER` inside a zip).
    track: String,
    /// The file to decode.
    file: PathBuf,
    licence: String,
    cues: Vec<Cue>,
}

impl Track {
    /// A track that is a file of an extracted package; one line when it is missing.
    fn extracted(game: &'static str, deb: &Deb, file: &Path, licence: String) -> Result<Self> {
        if !file.is_file() {
            bail!("{}: {} is missing", deb.name, rel(deb, file));
        }
        Ok(Track {
            game,
            package: deb.name.clone(),
            track: rel(deb, file),
            licence,
            file: file.to_path_buf(),
            cues: Vec::new(),
        })
    }
}

fn read_text(path: &Path) -> Result<String> {
    let b = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

fn rel(deb: &Deb, path: &Path) -> String {
    path.strip_prefix(&deb.root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Extracts the members of a zip archive whose names start with one of `prefixes` into a
/// folder beside it (once; python3's zipfile, which sanitises member names).
fn unzip(zip: &Path, prefixes: &[&str]) -> Result<PathBuf> {
    let name = zip.file_name().unwrap_or_default().to_string_lossy();
    let dest = zip.with_file_name(format!(".unzipped-{name}"));
    let want = prefixes.join("\n");
    if std::fs::read_to_string(dest.join(".done")).is_ok_and(|s| s == want) {
        return Ok(dest);
    }
    if !zip.is_file() {
        bail!("{}: missing from its package", zip.display());
    }
    let tmp = zip.with_file_name(format!(".unzipping-{name}"));
    let _ = std::fs::remove_dir_all(&tmp);
    const PY: &str = "import sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        pre = tuple(sys.argv[3:])\n\
        for i in z.infolist():\n    \
            if i.filename.startswith(pre) and not i.is_dir():\n        \
                z.extract(i, sys.argv[2])\n";
    run_cmd(
        Command::new("python3")
            .args(["-c", PY])
            .arg(zip)
            .arg(&tmp)
            .args(prefixes),
    )
    .with_context(|| format!("extracting {} from {}", prefixes.join(", "), zip.display()))?;
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&tmp, &dest)?;
    std::fs::write(dest.join(".done"), want)?;
    Ok(dest)
}

/// A track's licence: its DEP-5 paragraph, else the package's licence, else (a free-text
/// copyright file that holds a Creative Commons legal code) the licence that code names.
fn track_licence(deb: &Deb, candidate: &str) -> String {
    let copyright = deb
        .root
        .join("usr/share/doc")
        .join(&deb.name)
        .join("copyright");
    let text = std::fs::read_to_string(copyright).unwrap_or_default();
    if let Some(l) = dep5_licence(&text, candidate) {
        return l;
    }
    if deb.licence.starts_with("see ")
        && text.contains("CREATIVE COMMONS PUBLIC LICENSE")
        && text.contains("License Elements")
        && text.contains("Attribution, ShareAlike")
    {
        return "CC-BY-SA (Creative Commons legal code in the package's copyright file)".into();
    }
    deb.licence.clone()
}

fn cue(usage: &str, source: String, arousal: Option<bool>, valence: Option<bool>) -> Cue {
    Cue {
        usage: usage.into(),
        source,
        arousal,
        valence,
    }
}

/// Requires `needle` in a data file before a label is taken from it.
fn verify(path: &Path, deb: &Deb, needle: &str) -> Result<()> {
    if !read_text(path)?.contains(needle) {
        bail!(
            "{} {}: does not contain {needle:?}; the game's data changed, labels not taken",
            deb.name,
            rel(deb, path)
        );
    }
    Ok(())
}

/// Adds a cue to the track `key`, creating the track.
fn add(
    tracks: &mut BTreeMap<String, Track>,
    key: &str,
    make: impl FnOnce() -> Result<Track>,
    c: Cue,
) -> Result<()> {
    if !tracks.contains_key(key) {
        tracks.insert(key.to_string(), make()?);
    }
    let t = tracks.get_mut(key).expect("inserted");
    if !t.cues.contains(&c) {
        t.cues.push(c);
    }
    Ok(())
}

fn ufoai(ctx: &Ctx) -> Result<Vec<Track>> {
    let music = &ctx.debs["ufoai-music"];
    let common = &ctx.debs["ufoai-common"];
    let ufos_pk3 = common.root.join("usr/share/games/ufoai/base/0ufos.pk3");
    let music_pk3 = music.root.join("usr/share/games/ufoai/base/0music.pk3");
    let scripts = unzip(&ufos_pk3, &["ufos/music.ufo", "ufos/ui/campaign.ufo"])?;
    let audio = unzip(&music_pk3, &["music/"])?;
    let pk3 = rel(common, &ufos_pk3);
    let mut tracks = BTreeMap::new();
    let make = |name: &str| {
        let file = audio.join("music").join(format!("{name}.ogg"));
        let music_pk3 = &music_pk3;
        let name = name.to_string();
        move || -> Result<Track> {
            if !file.is_file() {
                bail!("ufoai-music: {name}.ogg (named in ufos/music.ufo) is missing");
            }
            Ok(Track {
                game: "ufoai",
                package: music.name.clone(),
                track: format!("{}:music/{name}.ogg", rel(music, music_pk3)),
                licence: track_licence(music, &format!("base/music/{name}.ogg")),
                file,
                cues: Vec::new(),
            })
        }
    };
    // Playlists: geoscape (the strategic map, time passing) low arousal; battlescape
    // (tactical combat) and aircombat (interceptions) high.
    let playlists = ufo_playlists(&read_text(&scripts.join("ufos/music.ufo"))?);
    for (list, names) in &playlists {
        let arousal = match list.as_str() {
            "geoscape" => Some(false),
            "battlescape" | "aircombat" => Some(true),
            _ => continue,
        };
        for n in names {
            let source = format!("game:{} {pk3}:ufos/music.ufo playlist {list}", common.name);
            add(&mut tracks, n, make(n), cue(list, source, arousal, None))?;
        }
    }
    // The campaign's end windows: endgame (won) and lostgame.
    for (window, name) in ufo_window_music(&read_text(&scripts.join("ufos/ui/campaign.ufo"))?) {
        let (usage, valence) = match window.as_str() {
            "endgame" => ("campaign won", Some(true)),
            "lostgame" => ("campaign lost", Some(false)),
            _ => continue,
        };
        let source = format!(
            "game:{} {pk3}:ufos/ui/campaign.ufo window {window} snd_music",
            common.name
        );
        add(
            &mut tracks,
            &name,
            make(&name),
            cue(usage, source, None, valence),
        )?;
    }
    if !playlists.iter().any(|(l, _)| l == "battlescape") {
        bail!("ufoai-common ufos/music.ufo: no battlescape playlist");
    }
    Ok(tracks.into_values().collect())
}

fn zero_ad(ctx: &Ctx) -> Result<Vec<Track>> {
    let deb = &ctx.debs["0ad-data"];
    let zip = deb.root.join("usr/share/games/0ad/mods/public/public.zip");
    let x = unzip(
        &zip,
        &[
            "gui/common/music.js",
            "simulation/data/civs/",
            "audio/music/",
        ],
    )?;
    let z = rel(deb, &zip);
    let mut tracks = BTreeMap::new();
    let cue_of = |state: &str| match state {
        "peace" => Some((Some(false), None)),
        "battle" => Some((Some(true), None)),
        "victory" => Some((None, Some(true))),
        "defeat" => Some((None, Some(false))),
        _ => None,
    };
    let make = |f: &str| {
        let file = x.join("audio/music").join(f);
        let f = f.to_string();
        let z = z.clone();
        move || -> Result<Track> {
            if !file.is_file() {
                bail!("0ad-data: audio/music/{f} (named in its music data) is missing");
            }
            Ok(Track {
                game: "0ad",
                package: deb.name.clone(),
                track: format!("{z}:audio/music/{f}"),
                licence: track_licence(deb, &format!("binaries/data/mods/public/audio/music/{f}")),
                file,
                cues: Vec::new(),
            })
        }
    };
    let js = x.join("gui/common/music.js");
    let defaults = zero_ad_defaults(&read_text(&js)?);
    if !defaults.iter().any(|(s, _)| s == "battle") {
        bail!("0ad-data gui/common/music.js: no DEFAULT_BATTLE_TRACKS");
    }
    for (state, files) in &defaults {
        let Some((a, v)) = cue_of(state) else {
            continue;
        };
        for f in files {
            let source = format!(
                "game:{} {z}:gui/common/music.js DEFAULT_{}_TRACKS",
                deb.name,
                state.to_ascii_uppercase()
            );
            add(&mut tracks, f, make(f), cue(state, source, a, v))?;
        }
    }
    let mut civs: Vec<PathBuf> = std::fs::read_dir(x.join("simulation/data/civs"))
        .context("0ad-data: no simulation/data/civs")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    civs.sort();
    for civ in civs {
        let music = zero_ad_civ_music(&read_text(&civ)?)
            .with_context(|| format!("0ad-data {}", rel(deb, &civ)))?;
        let cname = civ.file_name().unwrap_or_default().to_string_lossy();
        for (f, state) in music {
            let Some((a, v)) = cue_of(&state) else {
                continue;
            };
            let source = format!(
                "game:{} {z}:simulation/data/civs/{cname} Music Type {state}",
                deb.name
            );
            add(&mut tracks, &f, make(&f), cue(&state, source, a, v))?;
        }
    }
    Ok(tracks.into_values().collect())
}

fn supertuxkart(ctx: &Ctx) -> Result<Vec<Track>> {
    let deb = &ctx.debs["supertuxkart-data"];
    let data = deb.root.join("usr/share/games/supertuxkart/data");
    let mut tracks = BTreeMap::new();
    let make = |file: PathBuf| {
        move || -> Result<Track> {
            if !file.is_file() {
                bail!("supertuxkart-data: {} is missing", rel(deb, &file));
            }
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            Ok(Track {
                game: "supertuxkart",
                package: deb.name.clone(),
                track: rel(deb, &file),
                licence: track_licence(deb, &format!("data/music/{name}")),
                file,
                cues: Vec::new(),
            })
        }
    };
    // The final-lap version (`fast-filename`) of a piece against its normal version.
    let mut descriptors: Vec<PathBuf> = std::fs::read_dir(data.join("music"))
        .context("supertuxkart-data: no data/music")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "music"))
        .collect();
    descriptors.sort();
    for d in &descriptors {
        let Some(a) = xml_attrs(&read_text(d)?, "music", "file") else {
            continue;
        };
        let Some(fast) = a.get("fast-filename") else {
            continue;
        };
        let dn = rel(deb, d);
        let normal = data.join("music").join(&a["file"]);
        let fastf = data.join("music").join(fast);
        let src = |which: &str| format!("game:{} {dn} {which} (final-lap pair)", deb.name);
        add(
            &mut tracks,
            &a["file"],
            make(normal),
            cue("normal version", src("file"), Some(false), None),
        )?;
        add(
            &mut tracks,
            fast,
            make(fastf),
            cue("final-lap version", src("fast-filename"), Some(true), None),
        )?;
    }
    // Race results: stk_config.xml's <music race-win=... race-lose=... gp-win=...>.
    let cfg = data.join("stk_config.xml");
    let roles = xml_attrs(&read_text(&cfg)?, "music", "race-win")
        .context("supertuxkart-data data/stk_config.xml: no <music race-win=...>")?;
    for (role, valence) in [
        ("race-win", true),
        ("gp-win", true),
        ("race-lose", false),
        ("gp-lose", false),
    ] {
        let Some(desc) = roles.get(role) else {
            continue;
        };
        let dp = data.join("music").join(desc);
        let a = xml_attrs(&read_text(&dp)?, "music", "file")
            .with_context(|| format!("supertuxkart-data {}: no file=", rel(deb, &dp)))?;
        let source = format!("game:{} {} music {role}={desc}", deb.name, rel(deb, &cfg));
        add(
            &mut tracks,
            &a["file"],
            make(data.join("music").join(&a["file"])),
            cue(role, source, None, Some(valence)),
        )?;
    }
    Ok(tracks.into_values().collect())
}

fn wesnoth(ctx: &Ctx) -> Result<Vec<Track>> {
    let music = &ctx.debs["wesnoth-1.16-music"];
    let data = &ctx.debs["wesnoth-1.16-data"];
    let cfg = data
        .root
        .join("usr/share/games/wesnoth/1.16/data/game_config.cfg");
    let dir = music
        .root
        .join("usr/share/games/wesnoth/1.16/data/core/music");
    let text = read_text(&cfg)?;
    let mut tracks = BTreeMap::new();
    for (key, usage, valence) in [
        ("default_victory_music", "victory", true),
        ("default_defeat_music", "defeat", false),
    ] {
        for f in wml_list(&text, key) {
            let file = dir.join(&f);
            let source = format!("game:{} {} {key}", data.name, rel(data, &cfg));
            let make = || {
                Track::extracted("wesnoth", music, &file, music.licence.clone())
                    .with_context(|| format!("{f} (named in game_config.cfg)"))
            };
            add(
                &mut tracks,
                &f,
                make,
                cue(usage, source, None, Some(valence)),
            )?;
        }
    }
    Ok(tracks.into_values().collect())
}

fn extremetuxracer(ctx: &Ctx) -> Result<Vec<Track>> {
    let deb = &ctx.debs["extremetuxracer-data"];
    let dir = deb.root.join("usr/share/games/etr/music");
    let files: BTreeMap<String, String> = etr_records(&read_text(&dir.join("music.lst"))?)
        .into_iter()
        .filter_map(|r| Some((r.get("name")?.clone(), r.get("file")?.clone())))
        .collect();
    let themes = etr_records(&read_text(&dir.join("racing_themes.lst"))?);
    let mut tracks = BTreeMap::new();
    for t in &themes {
        let theme = t.get("name").map_or("", String::as_str);
        // The race music of the mood themes courses choose from (`[theme] calm|spunky`);
        // the won/lost race music of every theme.
        let mut uses = Vec::new();
        match theme {
            "calm" => uses.push(("race", "calm race", Some(false), None)),
            "spunky" => uses.push(("race", "spunky race", Some(true), None)),
            _ => {}
        }
        uses.push(("wonrace", "won race", None, Some(true)));
        uses.push(("lostrace", "lost race", None, Some(false)));
        for (field, usage, a, v) in uses {
            let Some(name) = t.get(field) else {
                continue;
            };
            let f = files.get(name).with_context(|| {
                format!("extremetuxracer-data music/music.lst: no entry {name}")
            })?;
            let file = dir.join(f);
            let source = format!(
                "game:{} music/racing_themes.lst theme {theme} [{field}] {name}",
                deb.name
            );
            let make = || {
                let licence = track_licence(deb, &format!("data/music/{f}"));
                Track::extracted("extremetuxracer", deb, &file, licence)
            };
            add(&mut tracks, f, make, cue(usage, source, a, v))?;
        }
    }
    // The won/lost music is the same for every theme: keep one cue per track.
    for t in tracks.values_mut() {
        let mut seen = BTreeSet::new();
        t.cues
            .retain(|c| c.arousal.is_some() || seen.insert((c.usage.clone(), c.valence)));
    }
    Ok(tracks.into_values().collect())
}

fn singularity(ctx: &Ctx) -> Result<Vec<Track>> {
    let music = &ctx.debs["singularity-music"];
    let code = &ctx.debs["singularity"];
    let pkg = code
        .root
        .join("usr/lib/python3/dist-packages/singularity/code");
    // The game groups music by folder (mixer.load_music keys music_dict by the folder's
    // name) and plays folder "win" when the game is won, "lose" when it is lost.
    verify(&pkg.join("mixer.py"), code, "music_dict[tail]")?;
    verify(&pkg.join("effect.py"), code, "mixer.play_music(\"win\")")?;
    verify(
        &pkg.join("screens/map.py"),
        code,
        "mixer.play_music(\"lose\")",
    )?;
    let dir = music.root.join("usr/share/games/singularity/music");
    let mut out = Vec::new();
    for (sub, valence, source) in [
        (
            "win",
            true,
            "singularity/code/effect.py endgame play_music(\"win\")",
        ),
        (
            "lose",
            false,
            "singularity/code/screens/map.py lost_game play_music(\"lose\")",
        ),
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
            .with_context(|| format!("singularity-music: no music/{sub}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "ogg"))
            .collect();
        files.sort();
        for file in files {
            out.push(Track {
                game: "singularity",
                package: music.name.clone(),
                track: rel(music, &file),
                licence: track_licence(music, ""),
                cues: vec![cue(
                    sub,
                    format!("game:{} {source}", code.name),
                    None,
                    Some(valence),
                )],
                file,
            });
        }
    }
    Ok(out)
}

fn colobot(ctx: &Ctx) -> Result<Vec<Track>> {
    let sounds = &ctx.debs["colobot-common-sounds"];
    let common = &ctx.debs["colobot-common"];
    let other = common.root.join("usr/share/games/colobot/levels/other");
    let dir = sounds.root.join("usr/share/games/colobot/music");
    let mut levels: Vec<PathBuf> = std::fs::read_dir(&other)
        .context("colobot-common: no levels/other")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    levels.sort();
    let mut tracks = BTreeMap::new();
    for level in levels {
        let name = level
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // The scenes shown after a mission: levels/other/winNNN.txt (won), lostNNN.txt.
        let valence = if name.starts_with("win") {
            true
        } else if name.starts_with("lost") {
            false
        } else {
            continue;
        };
        let Some(f) = colobot_audio(&read_text(&level)?) else {
            continue;
        };
        let file = dir.join(&f);
        let usage = if valence { "win scene" } else { "lost scene" };
        let source = format!("game:{} levels/other/{name} Audio filename", common.name);
        let make = || {
            let licence = track_licence(sounds, &format!("music/{f}"));
            Track::extracted("colobot", sounds, &file, licence)
                .with_context(|| format!("music/{f} (named in {name})"))
        };
        add(
            &mut tracks,
            &f,
            make,
            cue(usage, source, None, Some(valence)),
        )?;
    }
    // One cue per track and scene kind (music011 closes 13 win scenes).
    for t in tracks.values_mut() {
        let n = t.cues.len();
        t.cues
            .dedup_by(|a, b| a.usage == b.usage && a.valence == b.valence);
        if n > t.cues.len()
            && let Some(c) = t.cues.first_mut()
        {
            c.source.push_str(&format!(" (and {} more scenes)", n - 1));
        }
    }
    Ok(tracks.into_values().collect())
}

fn tracks_of(ctx: &Ctx, game: &str) -> Result<Vec<Track>> {
    match game {
        "ufoai" => ufoai(ctx),
        "0ad" => zero_ad(ctx),
        "supertuxkart" => supertuxkart(ctx),
        "wesnoth" => wesnoth(ctx),
        "extremetuxracer" => extremetuxracer(ctx),
        "singularity" => singularity(ctx),
        "colobot" => colobot(ctx),
        other => bail!("unknown game {other}"),
    }
}

/// One dimension's game label from a track's cues: `Some((sign, source))` when the cues
/// agree, `None` when they say nothing or disagree.
fn game_label(cues: &[Cue], pick: fn(&Cue) -> Option<bool>) -> Option<(bool, String)> {
    let stated: Vec<(bool, &str)> = cues
        .iter()
        .filter_map(|c| pick(c).map(|s| (s, c.source.as_str())))
        .collect();
    let first = stated.first()?;
    if stated.iter().any(|s| s.0 != first.0) {
        return None;
    }
    let sources: BTreeSet<&str> = stated.iter().map(|s| s.1).collect();
    let mut it = sources.into_iter();
    let mut s = it.next()?.to_string();
    let more = it.count();
    if more > 0 {
        s.push_str(&format!(" (+{more} more)"));
    }
    Some((first.0, s))
}

// ---------------------------------------------------------------------------------------
// Clips, the teacher, labels
// ---------------------------------------------------------------------------------------

struct Clip {
    track: usize,
    rel: String,
    start: f64,
    seconds: f64,
}

fn file_stem_safe(path: &str) -> String {
    let stem = Path::new(path)
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    stem.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn rms_dbfs(x: &[f32]) -> f64 {
    let e: f64 =
        x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len().max(1) as f64;
    10.0 * e.max(1e-20).log10()
}

/// The audible part of a track: from the first to the end of the last 0.5-s window above
/// -60 dBFS RMS (some tracks end in half a minute of digital silence).
fn audible(s: &[f32]) -> (usize, usize) {
    let w = (MUSIC_RATE / 2) as usize;
    let loud: Vec<bool> = s.chunks(w).map(|c| rms_dbfs(c) > -60.0).collect();
    match (loud.iter().position(|&l| l), loud.iter().rposition(|&l| l)) {
        (Some(a), Some(b)) => (a * w, ((b + 1) * w).min(s.len())),
        _ => (0, 0),
    }
}

/// Cuts the audible part of a track into at most `per_track` 30-s clips spread evenly
/// (centred in equal parts of it), or one clip of a stinger's own length; skips near-silent
/// clips.
fn cut(
    dir: &Path,
    idx: usize,
    t: &Track,
    stem: &str,
    per_track: usize,
) -> Result<(Vec<Clip>, usize)> {
    let (s, rate) = read_mono(&t.file).with_context(|| format!("{} {}", t.package, t.track))?;
    let s = resample(&s, rate, MUSIC_RATE)?;
    let (lo, hi) = audible(&s);
    let len = (CLIP_SECONDS * f64::from(MUSIC_RATE)) as usize;
    let n = (hi - lo) / len;
    let mut spans = Vec::new();
    if n == 0 {
        if (hi - lo) as f64 >= MIN_STINGER_SECONDS * f64::from(MUSIC_RATE) {
            spans.push((lo, hi));
        }
    } else {
        let k = n.min(per_track);
        for j in 0..k {
            let i = (2 * j + 1) * n / (2 * k);
            spans.push((lo + i * len, lo + (i + 1) * len));
        }
    }
    let mut out = Vec::new();
    let mut silent = 0;
    for (a, b) in spans {
        let x = &s[a..b];
        if rms_dbfs(x) < SILENCE_DBFS {
            silent += 1;
            continue;
        }
        let start = a as f64 / f64::from(MUSIC_RATE);
        let rel = format!(
            "audio/{}/{stem}-{:03}.wav",
            t.game,
            (start / CLIP_SECONDS).round()
        );
        write_wav(&dir.join(&rel), x, MUSIC_RATE)?;
        out.push(Clip {
            track: idx,
            rel,
            start,
            seconds: x.len() as f64 / f64::from(MUSIC_RATE),
        });
    }
    Ok((out, silent))
}

/// The teacher's (valence, energy) per file, from the cache where the same audio was
/// scored before by the same teacher; the rest in one process per core.
fn teacher_scores(ctx: &Ctx, files: &[PathBuf]) -> Result<Vec<(f64, f64)>> {
    let dir = ctx.cache.join("teacher");
    std::fs::create_dir_all(&dir)?;
    let key = teacher_key();
    let cache_path = dir.join(format!("scores-{key}.csv"));
    let mut cache: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    if let Ok(mut r) = csv::Reader::from_path(&cache_path) {
        for rec in r.records().flatten() {
            if let (Some(s), Some(v), Some(e)) = (rec.get(0), rec.get(1), rec.get(2))
                && let (Ok(v), Ok(e)) = (v.parse(), e.parse())
            {
                cache.insert(s.to_string(), (v, e));
            }
        }
    }
    let sums: Vec<String> = files
        .par_iter()
        .map(|f| sha256_file(f))
        .collect::<Result<_>>()?;
    let missing: Vec<usize> = (0..files.len())
        .filter(|&i| !cache.contains_key(&sums[i]))
        .collect();
    if !missing.is_empty() {
        let script = dir.join("teacher.py");
        if std::fs::read_to_string(&script).ok().as_deref() != Some(TEACHER_PY) {
            io::write_atomic(&script, TEACHER_PY.as_bytes())?;
        }
        let procs = rayon::current_num_threads().clamp(1, missing.len().div_ceil(4));
        eprintln!(
            "  teacher: {} clips in {procs} process(es) ({} cached)",
            missing.len(),
            files.len() - missing.len()
        );
        let chunks: Vec<Vec<usize>> = (0..procs)
            .map(|p| missing.iter().copied().skip(p).step_by(procs).collect())
            .collect();
        let py = teacher_python(ctx);
        let results: Vec<Result<Vec<(usize, f64, f64)>>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .enumerate()
                .map(|(p, chunk)| {
                    let (dir, script, py) = (&dir, &script, &py);
                    s.spawn(move || -> Result<Vec<(usize, f64, f64)>> {
                        let list = dir.join(format!(".list-{p}.txt"));
                        let out = dir.join(format!(".out-{p}.csv"));
                        let text: String = chunk
                            .iter()
                            .map(|&i| format!("{}\n", files[i].display()))
                            .collect();
                        io::write_atomic(&list, text.as_bytes())?;
                        run_cmd(
                            Command::new(py)
                                .arg(script)
                                .arg("--list")
                                .arg(&list)
                                .arg("--out")
                                .arg(&out)
                                .args(["--threads", "1"]),
                        )
                        .context("the teacher (vibenet)")?;
                        let mut r = csv::Reader::from_path(&out)
                            .with_context(|| format!("{}", out.display()))?;
                        let mut got = Vec::new();
                        for (rec, &i) in r.records().zip(chunk) {
                            let rec = rec?;
                            let v: f64 = rec.get(1).unwrap_or("").parse()?;
                            let e: f64 = rec.get(2).unwrap_or("").parse()?;
                            got.push((i, v, e));
                        }
                        if got.len() != chunk.len() {
                            bail!("the teacher scored {} of {} clips", got.len(), chunk.len());
                        }
                        let _ = std::fs::remove_file(&list);
                        let _ = std::fs::remove_file(&out);
                        Ok(got)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("teacher thread panicked")))
                })
                .collect()
        });
        for r in results {
            for (i, v, e) in r? {
                if !(0.0..=1.0).contains(&v) || !(0.0..=1.0).contains(&e) {
                    bail!("the teacher gave {v}, {e} for {}", files[i].display());
                }
                cache.insert(sums[i].clone(), (v, e));
            }
        }
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["sha256", "valence", "energy"])?;
        for (s, (v, e)) in &cache {
            w.write_record([s.as_str(), &format!("{v:.6}"), &format!("{e:.6}")])?;
        }
        io::write_atomic(&cache_path, &w.into_inner()?)?;
    }
    Ok(sums.iter().map(|s| cache[s]).collect())
}

/// ROC AUC of `score` for `label` (ties count a half); `None` without both classes.
fn auc(pairs: &[(f64, bool)]) -> Option<f64> {
    let pos: Vec<f64> = pairs.iter().filter(|p| p.1).map(|p| p.0).collect();
    let neg: Vec<f64> = pairs.iter().filter(|p| !p.1).map(|p| p.0).collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut s = 0.0;
    for &p in &pos {
        for &n in &neg {
            s += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(s / (pos.len() * neg.len()) as f64)
}

/// Agreement of the teacher with the game where the game states a label: clips, how often
/// the teacher's side of 0.5 matches, the AUC, and the clips per class.
fn agreement(pairs: &[(f64, bool)]) -> serde_json::Value {
    let agree = pairs.iter().filter(|p| (p.0 > 0.5) == p.1).count();
    json!({
        "clips": pairs.len(),
        "positive": pairs.iter().filter(|p| p.1).count(),
        "negative": pairs.iter().filter(|p| !p.1).count(),
        "agree": if pairs.is_empty() { serde_json::Value::Null } else { json!(agree as f64 / pairs.len() as f64) },
        "auc": auc(pairs),
    })
}

const HEADER: [&str; 15] = [
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

fn sign(b: bool) -> &'static str {
    if b { "positive" } else { "negative" }
}

fn quadrant(a: bool, v: bool) -> usize {
    match (a, v) {
        (true, true) => 1,
        (true, false) => 2,
        (false, false) => 3,
        (false, true) => 4,
    }
}

pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let dir = ctx.out.join("music/games");
    std::fs::create_dir_all(&dir)?;
    let per_track = ctx.plan.games_clips_per_track();
    let mut tracks = Vec::new();
    for g in games(ctx.plan.small) {
        let t = tracks_of(ctx, g.id).with_context(|| g.name.to_string())?;
        if t.is_empty() {
            bail!("{}: its data gave no labelled track", g.name);
        }
        tracks.extend(t);
    }
    // Unique, readable clip names per game.
    let mut stems: Vec<String> = Vec::new();
    let mut used = BTreeSet::new();
    for t in &tracks {
        let base = file_stem_safe(&t.track);
        let mut s = base.clone();
        let mut k = 2;
        while !used.insert((t.game, s.clone())) {
            s = format!("{base}_{k}");
            k += 1;
        }
        stems.push(s);
    }
    eprintln!("  {} labelled tracks; decoding", tracks.len());
    let cut_all: Vec<Result<(Vec<Clip>, usize)>> = tracks
        .par_iter()
        .enumerate()
        .map(|(i, t)| cut(&dir, i, t, &stems[i], per_track))
        .collect();
    let mut clips = Vec::new();
    let mut silent = 0usize;
    for r in cut_all {
        let (c, s) = r?;
        clips.extend(c);
        silent += s;
    }
    let files: Vec<PathBuf> = clips.iter().map(|c| dir.join(&c.rel)).collect();
    let scores = teacher_scores(ctx, &files)?;

    let mut all = csv::Writer::from_writer(Vec::new());
    let mut train = csv::Writer::from_writer(Vec::new());
    let mut held = csv::Writer::from_writer(Vec::new());
    let mut held_per_game: Vec<csv::Writer<Vec<u8>>> = HELD_OUT_GAMES
        .iter()
        .map(|_| csv::Writer::from_writer(Vec::new()))
        .collect();
    for w in [&mut all, &mut train, &mut held]
        .into_iter()
        .chain(held_per_game.iter_mut())
    {
        w.write_record(HEADER)?;
    }
    let mut shipped_games: Vec<[String; 6]> = Vec::new();
    // Per game: quadrant counts, minutes, tracks, clips; agreement pairs.
    let mut per_game: BTreeMap<&str, ([usize; 4], f64, BTreeSet<usize>)> = BTreeMap::new();
    let mut a_pairs: BTreeMap<&str, Vec<(f64, bool)>> = BTreeMap::new();
    let mut v_pairs: BTreeMap<&str, Vec<(f64, bool)>> = BTreeMap::new();
    let mut sources = [[0usize; 2]; 2]; // [arousal, valence][game, teacher]
    // Per game and usage: the teacher's energy on clips with a game arousal label.
    let mut by_usage: BTreeMap<(&str, String, bool), Vec<f64>> = BTreeMap::new();
    for (c, &(tv, te)) in clips.iter().zip(&scores) {
        let t = &tracks[c.track];
        let ga = game_label(&t.cues, |c| c.arousal);
        let gv = game_label(&t.cues, |c| c.valence);
        if let Some((a, _)) = &ga {
            a_pairs.entry(t.game).or_default().push((te, *a));
            let usage: BTreeSet<&str> = t
                .cues
                .iter()
                .filter(|c| c.arousal.is_some())
                .map(|c| c.usage.as_str())
                .collect();
            let usage: Vec<&str> = usage.into_iter().collect();
            by_usage
                .entry((t.game, usage.join("+"), *a))
                .or_default()
                .push(te);
        }
        if let Some((v, _)) = &gv {
            v_pairs.entry(t.game).or_default().push((tv, *v));
        }
        sources[0][usize::from(ga.is_none())] += 1;
        sources[1][usize::from(gv.is_none())] += 1;
        let (a, a_src) =
            ga.unwrap_or_else(|| (te > 0.5, format!("teacher:vibenet energy {te:.2}")));
        let (v, v_src) =
            gv.unwrap_or_else(|| (tv > 0.5, format!("teacher:vibenet valence {tv:.2}")));
        let q = quadrant(a, v);
        let e = per_game.entry(t.game).or_default();
        e.0[q - 1] += 1;
        e.1 += c.seconds / 60.0;
        e.2.insert(c.track);
        let deb = &ctx.debs[&t.package];
        let usage: Vec<&str> = t.cues.iter().map(|c| c.usage.as_str()).collect();
        let usage: Vec<&str> = usage
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let rec = [
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
        ];
        all.write_record(&rec)?;
        if let Some(g) = HELD_OUT_GAMES.iter().position(|&g| g == t.game) {
            held.write_record(&rec)?;
            held_per_game[g].write_record(&rec)?;
        } else {
            train.write_record(&rec)?;
            shipped_games.push([
                format!("games/{}", rec[0]),
                rec[1].clone(),
                rec[2].clone(),
                rec[3].clone(),
                rec[9].clone(),
                rec[10].clone(),
            ]);
        }
    }
    let mut out_files = files.clone();
    let held_files = HELD_OUT_GAMES
        .iter()
        .map(|g| format!("heldout-{g}.csv"))
        .zip(held_per_game);
    for (name, w) in [
        ("annotations.csv".to_string(), all),
        ("train.csv".to_string(), train),
        ("heldout.csv".to_string(), held),
    ]
    .into_iter()
    .chain(held_files)
    {
        let p = dir.join(name);
        io::write_atomic(&p, &w.into_inner()?)?;
        out_files.push(p);
    }
    // music/shipped.csv: both.csv's rows, then the games' training clips, each saying who
    // made its labels (so that scores against people's labels leave the teacher's out).
    let music = ctx.out.join("music");
    let both = music.join("both.csv");
    let mut shipped = csv::Writer::from_writer(Vec::new());
    shipped.write_record([
        "Songs",
        "Quads",
        "Arousal",
        "Valence",
        "ArousalSource",
        "ValenceSource",
    ])?;
    let mut r = csv::Reader::from_path(&both).with_context(|| format!("{}", both.display()))?;
    let mut n_both = 0usize;
    for rec in r.records() {
        let rec = rec.with_context(|| format!("{}", both.display()))?;
        let mut row: Vec<&str> = rec.iter().take(4).collect();
        row.extend([RENDERED_SOURCE, RENDERED_SOURCE]);
        shipped.write_record(&row)?;
        n_both += 1;
    }
    for rec in &shipped_games {
        shipped.write_record(rec)?;
    }
    let sp = music.join("shipped.csv");
    io::write_atomic(&sp, &shipped.into_inner()?)?;
    out_files.push(sp);

    // Stats for the report.
    let mut games_json = serde_json::Map::new();
    let mut all_a = Vec::new();
    let mut all_v = Vec::new();
    let mut quads = [0usize; 4];
    for g in games(ctx.plan.small) {
        let Some((q, min, tr)) = per_game.get(g.id) else {
            continue;
        };
        let a = a_pairs.get(g.id).cloned().unwrap_or_default();
        let v = v_pairs.get(g.id).cloned().unwrap_or_default();
        all_a.extend(a.iter().copied());
        all_v.extend(v.iter().copied());
        for i in 0..4 {
            quads[i] += q[i];
        }
        // Within-game arousal contrasts: each positive usage against each negative one.
        let mut contrasts = Vec::new();
        for ((game, up, sp), ep) in &by_usage {
            for ((game2, un, sn), en) in &by_usage {
                if *game == g.id && *game2 == g.id && *sp && !*sn {
                    let pairs: Vec<(f64, bool)> = ep
                        .iter()
                        .map(|&e| (e, true))
                        .chain(en.iter().map(|&e| (e, false)))
                        .collect();
                    contrasts.push(json!({"positive": up, "negative": un,
                        "clips": [ep.len(), en.len()], "auc": auc(&pairs)}));
                }
            }
        }
        games_json.insert(
            g.id.into(),
            json!({"arousal_contrasts": contrasts, "name": g.name, "packages": g.packages, "tracks": tr.len(),
                   "clips": q.iter().sum::<usize>(), "per_quadrant": q, "minutes": min,
                   "split": if HELD_OUT_GAMES.contains(&g.id) { "heldout" } else { "train" },
                   "arousal_agreement": agreement(&a), "valence_agreement": agreement(&v)}),
        );
    }
    let mut pkg_minutes: BTreeMap<String, f64> = BTreeMap::new();
    for c in &clips {
        *pkg_minutes
            .entry(tracks[c.track].package.clone())
            .or_default() += c.seconds / 60.0;
    }
    let stats = json!({
        "games": games_json,
        "clips": clips.len(),
        "per_quadrant": quads,
        "minutes": clips.iter().map(|c| c.seconds).sum::<f64>() / 60.0,
        "silent_clips_skipped": silent,
        "clips_per_track": per_track,
        "arousal_agreement": agreement(&all_a),
        "valence_agreement": agreement(&all_v),
        "arousal_sources": {"game": sources[0][0], "teacher": sources[0][1]},
        "valence_sources": {"game": sources[1][0], "teacher": sources[1][1]},
        "heldout_games": HELD_OUT_GAMES,
        "shipped": {"both": n_both, "games_train": shipped_games.len()},
        "package_minutes": pkg_minutes,
        "teacher_key": teacher_key(),
    });
    Ok((out_files, stats))
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

/// Minutes of a package's music used by the stage (for the report's sources table).
pub(super) fn package_minutes(stats: &serde_json::Value, package: &str) -> Option<f64> {
    stats
        .get(STAGE)?
        .get("package_minutes")?
        .get(package)?
        .as_f64()
}

fn pct(v: &serde_json::Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".into(), |x| format!("{:.0} %", 100.0 * x))
}

fn num(v: &serde_json::Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), |x| format!("{x:.2}"))
}

fn agreement_cells(a: &serde_json::Value) -> String {
    format!(
        "{} ({}+/{}-) | {} | {}",
        a["clips"],
        a["positive"],
        a["negative"],
        pct(&a["agree"]),
        num(&a["auc"])
    )
}

/// The CORPORA.md section on the game music.
pub(super) fn report(ctx: &Ctx, stats: &serde_json::Value) -> String {
    let s = &stats[STAGE];
    let mut md = String::new();
    md.push_str(&format!(
        "### Real game music labelled from the games' data (music/games)\n\n\
         Recorded soundtracks of Debian's game packages, cut into at most {} clips of 30 s per \
         track (spread evenly over it; stingers shorter than 30 s and at least 5 s long are one \
         clip of their own length), 22.05 kHz mono; clips quieter than {SILENCE_DBFS} dBFS RMS \
         are skipped ({} were). `music/games/annotations.csv` lists every clip; \
         `heldout.csv` holds every clip of the held-out games, 0 A.D. (peace against battle \
         music) and UFO: Alien Invasion (geoscape against battlescape/aircombat playlists), \
         `heldout-0ad.csv` and `heldout-ufoai.csv` each game's, and `train.csv` every other \
         game's; `music/shipped.csv` is `music/both.csv` plus \
         `music/games/train.csv` (the shipped models' training set).\n\n\
         **Labels.** A dimension comes from the game when its data states in which situation \
         a track plays, read from the data files at build time (never from a track's title): \
         UFO:AI's playlists in `ufos/music.ufo` (geoscape: arousal negative; battlescape and \
         aircombat: positive) and the music of its campaign windows `endgame` (valence \
         positive) and `lostgame` (negative) in `ufos/ui/campaign.ufo`; 0 A.D.'s music states \
         (`gui/common/music.js` defaults and `simulation/data/civs/*.json`: peace negative \
         arousal, battle positive, victory positive valence, defeat negative); SuperTuxKart's \
         final-lap versions (`fast-filename` in `data/music/*.music`: positive arousal, their \
         normal versions negative, a within-piece pair) and race results in \
         `data/stk_config.xml` (race-win, gp-win positive valence; race-lose, gp-lose \
         negative); Wesnoth's `default_victory_music` / `default_defeat_music` in \
         `data/game_config.cfg`; Extreme Tux Racer's racing themes `calm` (negative arousal) \
         and `spunky` (positive) and the won/lost race music of `music/racing_themes.lst`; \
         Singularity's `music/win` and `music/lose` folders (checked against the game's code \
         that plays them); Colobot's scenes after a mission, `levels/other/win*.txt` and \
         `lost*.txt`. Where the game says nothing about a dimension, the teacher decides: \
         vibenet 0.1.0's energy (arousal) or valence above 0.5 is positive. Every row names \
         its sources (`ArousalSource`, `ValenceSource`: `game:PACKAGE FILE WHAT` or \
         `teacher:vibenet energy 0.62`) and carries the teacher's two values. Game cues are \
         contexts, not rated emotions: the defensible contrasts are within one game.\n\n\
         | game | split | tracks | clips | per quadrant | minutes | arousal: clips with a game label | teacher agrees | teacher AUC | valence: clips with a game label | teacher agrees | teacher AUC |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        s["clips_per_track"], s["silent_clips_skipped"]
    ));
    if let Some(games) = s["games"].as_object() {
        for g in games.values() {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {:.1} | {} | {} |\n",
                g["name"].as_str().unwrap_or(""),
                g["split"].as_str().unwrap_or(""),
                g["tracks"],
                g["clips"],
                super::counts_text(&g["per_quadrant"]),
                g["minutes"].as_f64().unwrap_or(0.0),
                agreement_cells(&g["arousal_agreement"]),
                agreement_cells(&g["valence_agreement"]),
            ));
        }
    }
    md.push_str(&format!(
        "| **all** | | | {} | {} | {:.1} | {} | {} |\n\n",
        s["clips"],
        super::counts_text(&s["per_quadrant"]),
        s["minutes"].as_f64().unwrap_or(0.0),
        agreement_cells(&s["arousal_agreement"]),
        agreement_cells(&s["valence_agreement"]),
    ));
    let mut contrasts = Vec::new();
    if let Some(games) = s["games"].as_object() {
        for g in games.values() {
            for c in g["arousal_contrasts"].as_array().into_iter().flatten() {
                contrasts.push(format!(
                    "{}: {} vs {} {} ({}/{} clips)",
                    g["name"].as_str().unwrap_or(""),
                    c["positive"].as_str().unwrap_or(""),
                    c["negative"].as_str().unwrap_or(""),
                    num(&c["auc"]),
                    c["clips"][0],
                    c["clips"][1]
                ));
            }
        }
    }
    if !contrasts.is_empty() {
        md.push_str(&format!(
            "Teacher energy AUC for the arousal contrasts within each game (positive usage vs \
             negative usage): {}.\n\n",
            contrasts.join("; ")
        ));
    }
    md.push_str(&format!(
        "Label sources over all clips: arousal {} from the game, {} from the teacher; \
         valence {} from the game, {} from the teacher. \"teacher agrees\": how often the \
         teacher's value is on the game's side of 0.5; AUC: how well the teacher's energy \
         (valence) ranks the game's positive clips above its negative ones (0.5 = chance; \
         \"-\" where the game gives one class only).\n\n",
        s["arousal_sources"]["game"],
        s["arousal_sources"]["teacher"],
        s["valence_sources"]["game"],
        s["valence_sources"]["teacher"]
    ));
    md.push_str(
        "The teacher, vibenet 0.1.0 (PyPI, GPL-3.0-or-later, its ONNX model bundled in the \
         wheel), runs only while the corpus is built, in its own process and virtual \
         environment (`teacher-venv` in the download cache, exactly these wheels installed \
         with `--no-deps`, SHA-256 pinned; onnxruntime on one thread); its outputs, two \
         numbers per clip, are labels. Its scores are cached by the clip's SHA-256.\n\n\
         | package | version | licence | SHA-256 |\n|---|---|---|---|\n",
    );
    for w in &ctx.teacher_wheels {
        md.push_str(&format!(
            "| {} | {} | {} | `{}` |\n",
            w.name, w.version, w.licence, w.sha256
        ));
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ufo_playlists_skip_commented_tracks() {
        let text = "music main\n(\n\t\"van_theme\"\n)\n\nmusic geoscape\n(\n//\t\"azrael1\"\n\t\"Crystan-Geosphere02\"\n\t\"dbsea\"\n)\n\nmusic aircombat\n(\n//\t\"alBasrahM\"\n\t\"David01\"\n)\n";
        assert_eq!(
            ufo_playlists(text),
            vec![
                ("main".into(), vec!["van_theme".into()]),
                (
                    "geoscape".into(),
                    vec!["Crystan-Geosphere02".into(), "dbsea".into()]
                ),
                ("aircombat".into(), vec!["David01".into()]),
            ]
        );
    }

    #[test]
    fn ufo_windows_name_their_music() {
        let text = "window lostgame\n{\n\t{\n\t\tbackground\t\"background/losegame_bg\"\n\t}\n\tfunc onWindowOpened {\n\t\tcmd \"music_stop;snd_music Crystan-LooseGame;\"\n\t}\n}\n\n// snd_music Commented\nwindow endgame\n{\n\tfunc onWindowOpened {\n\t\tcmd \"music_stop;snd_music Crystan-WinGame;\"\n\t}\n}\n";
        assert_eq!(
            ufo_window_music(text),
            vec![
                ("lostgame".into(), "Crystan-LooseGame".into()),
                ("endgame".into(), "Crystan-WinGame".into())
            ]
        );
    }

    #[test]
    fn zero_ad_music_states() {
        let js = "Music.prototype.DEFAULT_MENU_TRACKS = [\"Honor_Bound.ogg\"].concat(shuffleArray([\n\t\"Calm_Before_the_Storm.ogg\"\n]));\n\nMusic.prototype.DEFAULT_BATTLE_TRACKS = [\n\t\"Taiko_1.ogg\",\n\t\"Taiko_2.ogg\"\n];\n\nMusic.prototype.DEFAULT_VICTORY_TRACKS = [\n\t\"You_are_Victorious!.ogg\"\n];\nMusic.prototype.DEFAULT_CUSTOM_TRACKS = [];\n";
        let d = zero_ad_defaults(js);
        assert_eq!(
            d,
            vec![
                (
                    "menu".into(),
                    vec!["Honor_Bound.ogg".into(), "Calm_Before_the_Storm.ogg".into()]
                ),
                (
                    "battle".into(),
                    vec!["Taiko_1.ogg".into(), "Taiko_2.ogg".into()]
                ),
                ("victory".into(), vec!["You_are_Victorious!.ogg".into()]),
                ("custom".into(), vec![]),
            ]
        );
        let civ = "{\n\t\"Code\": \"athen\",\n\t\"Music\": [\n\t\t{\n\t\t\t\"File\": \"Harvest_Festival.ogg\",\n\t\t\t\"Type\": \"peace\"\n\t\t}\n\t],\n\t\"CivBonuses\": []\n}";
        assert_eq!(
            zero_ad_civ_music(civ).unwrap(),
            vec![("Harvest_Festival.ogg".into(), "peace".into())]
        );
    }

    #[test]
    fn supertuxkart_xml() {
        let music = "<?xml version=\"1.0\"?>\n<music title    = \"Scottish bagpipes\"\n       composer = \"Ozoneone and Krobonil\"\n       file     = \"celtic.ogg\"\n       fast     = \"true\"\n       fast-filename = \"celtic_fast.ogg\"\n       gain     = \"0.95\"/>\n";
        let a = xml_attrs(music, "music", "file").unwrap();
        assert_eq!(a["file"], "celtic.ogg");
        assert_eq!(a["fast-filename"], "celtic_fast.ogg");
        let cfg = "<config>\n  <music-volume value=\"1\"/>\n  <!-- race-win: Plays when a player finishes in 1st place. -->\n  <music title=\"main_theme.music\"\n         default=\"kart_grand_prix.music\"\n         race-win=\"race_win_theme.music\"\n         race-lose=\"lose_theme.music\"\n         gp-win=\"win_theme.music\"/>\n</config>";
        let r = xml_attrs(cfg, "music", "race-win").unwrap();
        assert_eq!(r["race-lose"], "lose_theme.music");
        assert_eq!(r["gp-win"], "win_theme.music");
        assert!(xml_attrs(cfg, "music", "nothing").is_none());
    }

    #[test]
    fn etr_lists() {
        let text = "# The first entry is the default theme.\n\n*[name] normal [race] race_1 [wonrace] wonrace_1 [lostrace] lostrace_1\n*[name] calm [race] calmrace [wonrace] wonrace_1 [lostrace] lostrace_1\n";
        let r = etr_records(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1]["name"], "calm");
        assert_eq!(r[1]["race"], "calmrace");
        let m = etr_records("*[name] calmrace [file] calmrace-ks.ogg");
        assert_eq!(m[0]["file"], "calmrace-ks.ogg");
    }

    #[test]
    fn colobot_and_wesnoth() {
        let level = "// a comment\nAudio         filename=\"music011.ogg\" repeat=0\nAmbientColor  air=0.471;0.353;0.000;0.000\n";
        assert_eq!(colobot_audio(level).as_deref(), Some("music011.ogg"));
        assert_eq!(
            colobot_audio("AudioChange tool=Shooter filename=\"x.ogg\""),
            None
        );
        let cfg = "[game_config]\n    title_music=\"return_to_wesnoth.ogg\"\n    default_victory_music=\"victory.ogg,victory2.ogg\"\n    default_defeat_music=\"defeat.ogg,defeat2.ogg\"\n";
        assert_eq!(
            wml_list(cfg, "default_victory_music"),
            ["victory.ogg", "victory2.ogg"]
        );
        assert_eq!(
            wml_list(cfg, "default_defeat_music"),
            ["defeat.ogg", "defeat2.ogg"]
        );
    }

    #[test]
    fn dep5_per_file() {
        let text = "Files: *\nCopyright: x\nLicense: GPL-2+\n\nFiles:\n base/music/David01.ogg\n base/music/van_*.ogg\nCopyright: y\nLicense: CC-BY-3.0\n Some text.\n";
        assert_eq!(
            dep5_licence(text, "base/music/David01.ogg").unwrap(),
            "CC-BY-3.0"
        );
        assert_eq!(
            dep5_licence(text, "base/music/van_theme.ogg").unwrap(),
            "CC-BY-3.0"
        );
        assert_eq!(dep5_licence(text, "base/music/ufo1.ogg").unwrap(), "GPL-2+");
        assert!(dep5_licence("free text", "a").is_none());
    }

    #[test]
    fn labels_and_agreement() {
        let c = |a, v, s: &str| cue("u", s.into(), a, v);
        let cues = [c(Some(false), None, "x"), c(Some(false), None, "y")];
        assert!(!game_label(&cues, |c| c.arousal).unwrap().0);
        assert!(game_label(&cues, |c| c.valence).is_none());
        let conflict = [c(Some(false), None, "x"), c(Some(true), None, "y")];
        assert!(game_label(&conflict, |c| c.arousal).is_none());
        assert_eq!(auc(&[(0.9, true), (0.1, false), (0.5, true)]), Some(1.0));
        assert_eq!(auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(auc(&[(0.5, true)]), None);
        assert_eq!(
            [
                quadrant(true, true),
                quadrant(true, false),
                quadrant(false, false),
                quadrant(false, true)
            ],
            [1, 2, 3, 4]
        );
    }
}
