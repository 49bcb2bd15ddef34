//! The public music-emotion corpora read from their folders as unpacked (DEAM, PMEmo,
//! emoMusic): each layout is built here with the datasets' own folder, file and column
//! names and real MP3 files (synthetic music encoded by LAME), then trained on, evaluated
//! (with the correlations to the continuous ratings) and cross-validated.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{clip, ok, s, trainer, utterance, write_mono};

/// Songs per quadrant in each corpus.
const PER_QUADRANT: usize = 3;
const SECONDS: f32 = 6.0;

/// A 6-s clip of quadrant `q` (0-based) as a real MP3 at `path`.
fn write_mp3(path: &Path, q: usize, seed: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let wav = path.with_extension("tmp.wav");
    write_mono(&wav, 22_050, &clip(q, SECONDS, seed));
    let status = std::process::Command::new("lame")
        .args(["--quiet", "-b", "64", s(&wav), s(path)])
        .status()
        .expect("LAME encodes the test MP3s: install it with scripts/setup.sh (Debian: lame)");
    assert!(status.success(), "lame failed on {}", wav.display());
    std::fs::remove_file(wav).unwrap();
}

/// Each song's id, quadrant (0-based) and static (arousal, valence) on a scale whose
/// midpoint is `mid` and half-range `half`.
fn songs(mid: f64, half: f64) -> Vec<(usize, usize, [f64; 2])> {
    (0..4 * PER_QUADRANT)
        .map(|i| {
            let q = i % 4;
            let sign = |p: bool| if p { 1.0 } else { -1.0 };
            let (a, v) = (sign(q < 2), sign(q == 0 || q == 3));
            // Ids as the datasets number them (not from 0, with gaps).
            (2 + 3 * i, q, [mid + a * half * 0.6, mid + v * half * 0.4])
        })
        .collect()
}

/// Ratings every 0.5 s from 1 s to 5 s, rising through the clip.
fn instants() -> Vec<f64> {
    (2..=10).map(|k| k as f64 * 0.5).collect()
}

struct Built {
    deam: PathBuf,
    pmemo: PathBuf,
    emomusic: PathBuf,
    encoder: PathBuf,
}

/// The three corpus folders and a (tiny) pretrained encoder.
fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let root = common::fixture_dir("public-corpora");

        // DEAM: averaged annotations under folder names with spaces; the second static
        // file has more columns; a per-rater folder that must be ignored; one rated song
        // without audio.
        let deam = root.join("DEAM");
        let song_level = deam.join("annotations/annotations averaged per song/song_level");
        let dynamic = deam.join("annotations/annotations averaged per song/dynamic (per second annotations)");
        let rater = deam.join("annotations/annotations per each rater/song_level");
        for d in [&song_level, &dynamic, &rater] {
            std::fs::create_dir_all(d).unwrap();
        }
        let list = songs(5.0, 4.0);
        let (first, second) = list.split_at(8);
        let mut a = String::from("song_id, valence_mean, valence_std, arousal_mean, arousal_std\n");
        for (id, _, r) in first {
            a += &format!("{id}, {:.1}, 1.9, {:.1}, 8.5\n", r[1], r[0]);
        }
        a += "9999, 7.0, 1.0, 7.0, 1.0\n"; // rated, no audio
        std::fs::write(song_level.join("static_annotations_averaged_songs_1_2000.csv"), a).unwrap();
        let mut b = String::from(
            "song_id,valence_mean,valence_std,valence_max_mean,arousal_mean,arousal_std,arousal_max_mean\n",
        );
        for (id, _, r) in second {
            b += &format!("{id},{:.1},1.0,9.0,{:.1},1.0,9.0\n", r[1], r[0]);
        }
        std::fs::write(song_level.join("static_annotations_averaged_songs_2000_2058.csv"), b).unwrap();
        std::fs::write(
            rater.join("static_annotations_averaged_songs_1_2000.csv"),
            "song_id, valence_mean, arousal_mean\n2, 1.0, 1.0\n",
        )
        .unwrap();
        let header: Vec<String> = instants()
            .iter()
            .map(|t| format!("sample_{}ms", (t * 1000.0) as i64))
            .collect();
        let wide = |dim: usize, list: &[(usize, usize, [f64; 2])], scale: f64| {
            let mut w = format!("song_id,{}\n", header.join(","));
            for (id, _, r) in list {
                let row: Vec<String> = instants()
                    .iter()
                    .map(|t| format!("{:.3}", scale * (r[dim] - 5.0) / 4.0 + 0.02 * t))
                    .collect();
                w += &format!("{id},{}\n", row.join(","));
            }
            w
        };
        std::fs::write(dynamic.join("arousal.csv"), wide(0, &list, 1.0)).unwrap();
        std::fs::write(dynamic.join("valence.csv"), wide(1, &list, 1.0)).unwrap();
        for (i, (id, q, _)) in list.iter().enumerate() {
            write_mp3(&deam.join(format!("MEMD_audio/{id}.mp3")), *q, i as u64);
        }

        // PMEmo: 0-1 ratings, dynamic ratings in one long file.
        let pmemo = root.join("PMEmo2019");
        let list = songs(0.5, 0.5);
        let mut st = String::from("musicId,Arousal(mean),Valence(mean)\n");
        let mut dy = String::from("musicId,frameTime,Arousal(mean),Valence(mean)\n");
        for (i, (id, q, r)) in list.iter().enumerate() {
            st += &format!("{id},{:.3},{:.3}\n", r[0], r[1]);
            for t in instants() {
                dy += &format!("{id},{t:.1},{:.3},{:.3}\n", r[0] + 0.01 * t, r[1] - 0.01 * t);
            }
            write_mp3(&pmemo.join(format!("chorus/{id}.mp3")), *q, 50 + i as u64);
        }
        std::fs::create_dir_all(pmemo.join("annotations")).unwrap();
        std::fs::write(pmemo.join("annotations/static_annotations.csv"), st).unwrap();
        std::fs::write(pmemo.join("annotations/dynamic_annotations.csv"), dy).unwrap();
        std::fs::write(
            pmemo.join("annotations/static_annotations_std.csv"),
            "musicId,Arousal(std),Valence(std)\n2,0.1,0.1\n",
        )
        .unwrap();

        // emoMusic: 1-9 ratings, dynamic ratings in two wide files.
        let emo = root.join("emoMusic");
        let list = songs(5.0, 4.0);
        std::fs::create_dir_all(emo.join("annotations")).unwrap();
        let mut st = String::from("song_id,mean_arousal,std_arousal,mean_valence,std_valence\n");
        for (i, (id, q, r)) in list.iter().enumerate() {
            st += &format!("{id},{:.2},8.9,{:.2},8.9\n", r[0], r[1]);
            write_mp3(&emo.join(format!("clips_45seconds/{id}.mp3")), *q, 90 + i as u64);
        }
        std::fs::write(emo.join("annotations/static_annotations.csv"), st).unwrap();
        std::fs::write(emo.join("annotations/arousal_cont_average.csv"), wide(0, &list, 1.0)).unwrap();
        std::fs::write(emo.join("annotations/valence_cont_average.csv"), wide(1, &list, 1.0)).unwrap();
        std::fs::write(emo.join("annotations/songs_info.csv"), "song_id,Artist\n2,x\n").unwrap();

        // A tiny pretrained encoder.
        let speech = root.join("speech");
        std::fs::create_dir_all(&speech).unwrap();
        for i in 0..4u64 {
            write_mono(&speech.join(format!("u{i}.wav")), 16_000, &utterance(3.0, false, i));
        }
        let encoder = root.join("encoder");
        ok(trainer(&[
            "pretrain", "--method", "dae", "--speech", s(&speech), "--epochs", "1", "--batch",
            "8", "--epoch-patches", "16", "--out", s(&encoder),
        ]));
        Built {
            deam,
            pmemo,
            emomusic: emo,
            encoder,
        }
    })
}

/// `trainer transfer` (Feat. Ext., 1 epoch) of the tiny encoder to a corpus folder.
fn transfer(b: &Built, music: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    common::transfer_feat_ext(&b.encoder, music, out, extra)
}

/// `trainer evaluate --split all --json` of a model on a corpus folder.
fn evaluate_all(model: &Path, folder: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "evaluate",
        "--model",
        s(model),
        "--music",
        s(folder),
        "--split",
        "all",
        "--json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&ok(trainer(&args)).stdout).expect("JSON on stdout")
}

/// Truth counts per quadrant (rows of the song-level confusion matrix).
fn truth_per_quadrant(e: &serde_json::Value) -> Vec<u64> {
    e["song"]["quadrant"]["confusion"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .sum()
        })
        .collect()
}

#[test]
fn each_corpus_folder_trains_and_evaluates_as_unpacked() {
    let b = built();
    for (name, folder) in [
        ("DEAM", &b.deam),
        ("PMEmo", &b.pmemo),
        ("emoMusic", &b.emomusic),
    ] {
        let out = folder.parent().unwrap().join(format!("run-{name}"));
        let o = ok(transfer(b, folder, &out, &[]));
        let log = String::from_utf8_lossy(&o.stderr);
        assert!(
            log.contains(&format!("{name}: {} songs", 4 * PER_QUADRANT)),
            "{name}: {log}"
        );
        if name == "DEAM" {
            assert!(log.contains("1 rated songs have no audio file"), "{log}");
        }
        // The corpus's own midpoint made the quadrants: every quadrant has its songs.
        let model = out.join("model.mer");
        let e = evaluate_all(&model, folder, &[]);
        assert_eq!(e["songs"], 4 * PER_QUADRANT, "{name}");
        assert_eq!(
            truth_per_quadrant(&e),
            vec![PER_QUADRANT as u64; 4],
            "{name}"
        );
        let r = &e["ratings"];
        assert_eq!(r["songs"], 4 * PER_QUADRANT, "{name}: {r}");
        for key in [
            "arousal_pearson",
            "arousal_spearman",
            "valence_pearson",
            "valence_spearman",
        ] {
            let v = r[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: no {key} in {r}"));
            assert!((-1.0..=1.0).contains(&v), "{name}: {key} {v}");
        }
        // Every song has ratings at nine instants inside its patches; r is defined for
        // those whose predictions vary (a song the model is sure of has P(+) = 1 throughout).
        for dim in ["arousal", "valence"] {
            let rated = &r[format!("dynamic_{dim}_rated")];
            assert_eq!(rated, 4 * PER_QUADRANT, "{name}: {r}");
            let songs = r[format!("dynamic_{dim}_songs")].as_u64().unwrap();
            assert!(
                (1..=4 * PER_QUADRANT as u64).contains(&songs),
                "{name}: {r}"
            );
        }
        let text = String::from_utf8_lossy(
            &ok(trainer(&[
                "evaluate",
                "--model",
                s(&out.join("model.mer")),
                "--music",
                s(folder),
            ]))
            .stdout,
        )
        .into_owned();
        assert!(text.contains("Spearman rho"), "{text}");
        assert!(
            text.contains("Within songs, against the ratings over time"),
            "{text}"
        );
        // Another midpoint moves the quadrants: above 1-9's 8 (or 0-1's 0.9) nobody is
        // aroused or positive.
        let high = if name == "PMEmo" { "0.9" } else { "8" };
        let e = evaluate_all(&model, folder, &["--av-midpoint", high]);
        assert_eq!(
            truth_per_quadrant(&e),
            vec![0, 0, 4 * PER_QUADRANT as u64, 0],
            "{name}: all Q3 above the midpoint {high}"
        );
    }
}

#[test]
fn a_folder_that_is_no_corpus_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.csv"), "a,b\n1,2\n").unwrap();
    let o = trainer(&["baselines", "--music", s(dir.path())]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("not a DEAM, PMEmo or emoMusic folder"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn k_fold_cross_validation_reports_mean_and_spread_and_resumes() {
    let b = built();
    let out = b.pmemo.parent().unwrap().join("folds-pmemo");
    let o = ok(transfer(b, &b.pmemo, &out, &["--folds", "3"]));
    let md = std::fs::read_to_string(out.join("folds.md")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        md,
        "the report is printed"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("folds.json")).unwrap()).unwrap();
    assert_eq!(report["folds"], 3);
    // Every song is tested once, in 3 folds of 4 (one per quadrant each).
    assert_eq!(report["test_songs"], serde_json::json!([4, 4, 4]));
    let mut tested: Vec<String> = Vec::new();
    for f in 1..=3 {
        let dir = out.join(format!("fold-{f:02}"));
        assert!(dir.join("model.mer").is_file());
        let split: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("splits.json")).unwrap()).unwrap();
        for name in split["test"].as_array().unwrap() {
            let name = name.as_str().unwrap().to_string();
            for part in ["train", "val"] {
                assert!(
                    !split[part]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|n| n == name.as_str()),
                    "fold {f}: {name} in test and {part}"
                );
            }
            tested.push(name);
        }
    }
    tested.sort();
    tested.dedup();
    assert_eq!(
        tested.len(),
        4 * PER_QUADRANT,
        "each song tested exactly once"
    );
    let metric = |name: &str| {
        report["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {report}"))
            .clone()
    };
    let f1 = metric("song quadrant F1 (weighted)");
    let values: Vec<f64> = f1["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    let mean = values.iter().sum::<f64>() / 3.0;
    assert!((f1["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((f1["std"].as_f64().unwrap() - sd).abs() < 1e-9);
    metric("arousal Spearman rho");
    metric("valence r over time (per song)");
    assert!(
        md.contains("3-fold cross-validation") && md.contains(" ± "),
        "{md}"
    );
    // A rerun finds every fold finished: nothing is trained again, the report is the same.
    let stamps = || -> Vec<std::time::SystemTime> {
        (1..=3)
            .map(|f| {
                let model = out.join(format!("fold-{f:02}/model.mer"));
                std::fs::metadata(model).unwrap().modified().unwrap()
            })
            .collect()
    };
    let before = stamps();
    let again = ok(transfer(b, &b.pmemo, &out, &["--folds", "3"]));
    assert_eq!(String::from_utf8_lossy(&again.stdout), md);
    assert_eq!(stamps(), before, "a finished fold was trained again");
}
