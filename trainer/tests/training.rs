//! End-to-end training runs of the `trainer` binary on tiny corpora made here: speech-like
//! utterances in two "languages" and music clips whose quadrant sets tempo, mode, loudness
//! and register.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::{
    assert_evaluation_is_stored, ok, s, trainer, transfer_to, utterance, write_mono,
    write_music_set,
};
use mer::ModelFile;
use mer::model_file::Precision;

struct Corpora {
    root: PathBuf,
}

impl Corpora {
    fn speech(&self, lang: &str) -> PathBuf {
        self.root.join("speech").join(lang)
    }
    fn music(&self) -> PathBuf {
        self.root.join("music/annotations.csv")
    }
}

/// Two speech "languages" (6 utterances of 4 s each, in nested folders like LibriSpeech)
/// and 24 music clips of 3 s, 6 per quadrant, with a 4Q-emotion-style CSV.
fn corpora() -> &'static Corpora {
    static C: OnceLock<Corpora> = OnceLock::new();
    C.get_or_init(|| {
        let root = common::fixture_dir("training-corpora");
        for (lang, tonal) in [("eng", false), ("man", true)] {
            for i in 0..6u64 {
                let d = root
                    .join("speech")
                    .join(lang)
                    .join(format!("speaker{}", i % 2));
                std::fs::create_dir_all(&d).unwrap();
                write_mono(
                    &d.join(format!("utt{i}.wav")),
                    16_000,
                    &utterance(4.0, tonal, i + 100 * u64::from(tonal)),
                );
            }
        }
        write_music_set(&root.join("music"), 6);
        Corpora { root }
    })
}

fn metrics_rows(run: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(run.join("metrics.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect()
}

fn pretrain(method: &str, out: &Path, extra: &[&str]) -> Output {
    let c = corpora();
    let eng = format!("eng={}", s(&c.speech("eng")));
    let man = format!("man={}", s(&c.speech("man")));
    let mut args = vec![
        "pretrain",
        "--method",
        method,
        "--speech",
        &eng,
        "--speech",
        &man,
        "--epochs",
        "2",
        "--batch",
        "8",
        "--epoch-patches",
        "16",
        "--seed",
        "3",
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    trainer(&args)
}

/// A DAE (SCAE) encoder pretrained on both languages into DIR/pre.
fn dae_encoder(dir: &Path) -> PathBuf {
    let pre = dir.join("pre");
    ok(pretrain("dae", &pre, &[]));
    pre
}

/// `trainer transfer` of an encoder run to the toy music, 2 epochs, batch 16.
fn transfer_run(pre: &Path, mode: &str, seed: &str, out: &Path, extra: &[&str]) -> Output {
    let mut flags = vec!["--epochs", "2", "--batch", "16", "--seed", seed];
    flags.extend_from_slice(extra);
    transfer_to(pre, &corpora().music(), mode, out, &flags)
}

#[test]
fn pretrain_transfer_evaluate_predict_for_both_methods_and_modes() {
    let c = corpora();
    let dir = tempfile::tempdir().unwrap();
    for method in ["dae", "cpc"] {
        let pre = dir.path().join(format!("pre-{method}"));
        ok(pretrain(method, &pre, &[]));
        for f in [
            "config.json",
            "log.txt",
            "metrics.csv",
            "best.record",
            "done.json",
        ] {
            assert!(pre.join(f).exists(), "{method}: {f} missing");
        }
        assert_eq!(metrics_rows(&pre).len(), 2);
        let text = std::fs::read_to_string(pre.join("metrics.csv")).unwrap();
        let columns = text.lines().next().unwrap().split(',').count();
        for row in metrics_rows(&pre) {
            assert_eq!(row.len(), columns, "{method}: {row:?} against the header");
        }
        if method == "cpc" {
            let header = std::fs::read_to_string(pre.join("metrics.csv")).unwrap();
            assert!(header.starts_with("phase,epoch,train_loss,val_loss,val_accuracy"));
        }
        for mode in ["feat-ext", "full"] {
            let run = dir.path().join(format!("{method}-{mode}"));
            ok(transfer_run(&pre, mode, "1", &run, &[]));
            let model = run.join("model.mer");
            assert!(model.exists());
            // Full runs the frozen phase, then the fine-tuning phase.
            let phases: std::collections::BTreeSet<String> =
                metrics_rows(&run).iter().map(|r| r[0].clone()).collect();
            assert_eq!(phases.len(), if mode == "full" { 2 } else { 1 }, "{mode}");
            let split: serde_json::Value =
                serde_json::from_slice(&std::fs::read(run.join("splits.json")).unwrap()).unwrap();
            assert_eq!(
                split["test"].as_array().unwrap().len(),
                8,
                "30 % of 6 per quadrant, rounded: 2 x 4"
            );

            let o = ok(trainer(&["inspect", "--json", s(&model)]));
            let meta: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(
                meta["variant"]["method"],
                if method == "dae" { "scae" } else { "cpc" }
            );
            assert_eq!(meta["variant"]["mode"], mode);
            assert_eq!(
                meta["variant"]["pretrain_languages"],
                serde_json::json!(["eng", "man"])
            );
            let o = ok(trainer(&[
                "evaluate",
                "--model",
                s(&model),
                "--music",
                s(&c.music()),
                "--json",
            ]));
            let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(e["songs"], 8);
            assert_evaluation_is_stored(&e, &meta);
            let total: u64 = e["song"]["quadrant"]["confusion"]["counts"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_u64().unwrap()))
                .sum();
            assert_eq!(total, 8);

            let song = c.root.join("music/audio/q1_0.wav");
            let o = ok(trainer(&[
                "predict",
                "--model",
                s(&model),
                "--format",
                "json",
                s(&song),
            ]));
            let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert!(p[0]["quadrant"].as_str().unwrap().starts_with('Q'));
        }
    }
}

#[test]
fn full_starts_from_the_frozen_phase_of_a_feat_ext_run() {
    let c = corpora();
    let dir = tempfile::tempdir().unwrap();
    let pre = dae_encoder(dir.path());
    let transfer = |mode: &str, seed: &str, out: &Path, from: Option<&Path>| match from {
        Some(f) => transfer_run(&pre, mode, seed, out, &["--frozen-from", s(f)]),
        None => transfer_run(&pre, mode, seed, out, &[]),
    };
    let fe = dir.path().join("fe");
    let full = dir.path().join("full");
    // Unfinished or absent Feat. Ext. runs are refused before anything is written.
    let o = transfer("full", "1", &full, Some(&fe));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a transfer run"), "{err}");
    assert!(!full.exists(), "a refused run writes nothing");
    ok(transfer("feat-ext", "1", &fe, None));
    // Another seed means another split: refused, naming the run.
    let other = dir.path().join("other");
    let o = transfer("full", "2", &other, Some(&fe));
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a Feat. Ext. run of the same"), "{err}");
    assert!(err.contains(s(&fe)), "{err}");
    assert!(!other.join("best.record").exists());
    let o = transfer("feat-ext", "1", &other, Some(&fe));
    assert!(!o.status.success());

    // The Full phase has its own number of epochs (one here, against the frozen phase's 2).
    ok(transfer_run(
        &pre,
        "full",
        "1",
        &full,
        &["--frozen-from", s(&fe), "--full-epochs", "1"],
    ));
    let (fe_rows, full_rows) = (metrics_rows(&fe), metrics_rows(&full));
    // The frozen phase is the Feat. Ext. run's, copied, not trained again.
    assert_eq!(full_rows[..fe_rows.len()], fe_rows[..]);
    assert!(full_rows[fe_rows.len()..].iter().all(|r| r[0] == "1"));
    assert_eq!(full_rows.len(), fe_rows.len() + 1);
    assert_eq!(
        std::fs::read(fe.join("splits.json")).unwrap(),
        std::fs::read(full.join("splits.json")).unwrap()
    );
    assert!(full.join("model.mer").exists());
    // The frozen phase's own best metric (with its loss tie-break) came along.
    assert_eq!(
        std::fs::read(fe.join("checkpoint/phase0.json")).unwrap(),
        std::fs::read(full.join("checkpoint/phase0.json")).unwrap()
    );
    // A finished run keeps its config: rerunning it with more epochs does not relabel it.
    let music = c.music();
    let before = std::fs::read(fe.join("config.json")).unwrap();
    let o = transfer_to(
        &pre,
        &music,
        "feat-ext",
        &fe,
        &["--epochs", "5", "--batch", "16", "--seed", "1"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(fe.join("config.json")).unwrap(), before);
}

#[test]
fn export_writes_a_finished_run_at_another_precision() {
    let dir = tempfile::tempdir().unwrap();
    let pre = dir.path().join("pre");
    ok(pretrain("cpc", &pre, &[]));
    let run = dir.path().join("run");
    ok(transfer_run(
        &pre,
        "feat-ext",
        "1",
        &run,
        &["--precision", "f32"],
    ));
    let own = ModelFile::from_bytes(&std::fs::read(run.join("model.mer")).unwrap()).unwrap();
    let export = |precision: &str, out: &Path| {
        trainer(&[
            "export",
            "--run",
            s(&run),
            "--precision",
            precision,
            "--out",
            s(out),
            "--json",
        ])
    };
    let mut sizes = Vec::new();
    for (name, precision) in [("f32", Precision::F32), ("q4", Precision::Q4)] {
        let out = dir.path().join(format!("model-{name}.mer"));
        let o = ok(export(name, &out));
        // The test evaluation it prints is the one stored in the file.
        let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let bytes = std::fs::read(&out).unwrap();
        sizes.push(bytes.len());
        let file = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(file.meta.precision, precision);
        assert_eq!(file.meta.variant, own.meta.variant);
        assert_eq!(
            file.meta.training, own.meta.training,
            "the same run, the same schedule"
        );
        assert_eq!(
            file.meta.metrics["test"]["song"]["quadrant"]["f1_weighted"].as_f64(),
            printed["song"]["quadrant"]["scores"]["weighted"]["f1"].as_f64()
        );
        if precision == Precision::F32 {
            // From the same f32 weights as the file the run wrote: the same scores (the
            // bytes differ only in burnpack's per-instance parameter ids).
            assert_eq!(file.weights.len(), own.weights.len());
            assert_eq!(file.meta.metrics, own.meta.metrics);
        }
    }
    assert!(
        sizes[1] * 6 < sizes[0],
        "q4 {} bytes, f32 {}",
        sizes[1],
        sizes[0]
    );
    // Not a finished transfer run: one clear line, nothing written.
    let out = dir.path().join("nothing.mer");
    for not_a_run in [dir.path().join("absent"), pre.clone()] {
        let o = trainer(&[
            "export",
            "--run",
            s(&not_a_run),
            "--precision",
            "q4",
            "--out",
            s(&out),
        ]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("not a transfer run"), "{err}");
        assert!(!out.exists());
    }
}

#[test]
fn the_classifier_learns_a_learnable_toy() {
    // Separable clips (tempo, loudness, mode and register set by the quadrant): the
    // training loss falls and the test songs are mostly right.
    let c = corpora();
    let dir = tempfile::tempdir().unwrap();
    let pre = dae_encoder(dir.path());
    let run = dir.path().join("toy");
    ok(transfer_to(
        &pre,
        &c.music(),
        "feat-ext",
        &run,
        &["--epochs", "12", "--batch", "16", "--seed", "2"],
    ));
    let rows = metrics_rows(&run);
    let loss = |r: &Vec<String>| r[2].parse::<f64>().unwrap();
    let first = loss(&rows[0]);
    let last = rows[rows.len() - 3..].iter().map(loss).sum::<f64>() / 3.0;
    assert!(last < 0.7 * first, "training loss {first} -> {last}");
    let e: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("evaluation-test.json")).unwrap()).unwrap();
    let acc = e["song"]["quadrant"]["scores"]["accuracy"]
        .as_f64()
        .unwrap();
    assert!(acc >= 0.5, "song accuracy {acc} (chance 0.25)");
}

#[test]
fn a_killed_run_resumes_from_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("resume");
    let c = corpora();
    let eng = format!("eng={}", s(&c.speech("eng")));
    let args = [
        "pretrain",
        "--method",
        "dae",
        "--speech",
        &eng,
        "--epochs",
        "4",
        "--batch",
        "8",
        "--epoch-patches",
        "24",
        "--seed",
        "5",
        "--out",
        s(&run),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it during the second epoch: after the first checkpoint is complete.
    let state = run.join("checkpoint/state.json");
    let started = std::time::Instant::now();
    while !state.exists() {
        assert!(
            started.elapsed().as_secs() < 300,
            "no checkpoint after 300 s"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it could be killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!run.join("done.json").exists());
    let before = metrics_rows(&run).len();
    assert!((1..4).contains(&before), "{before} epochs before the kill");

    let o = ok(trainer(&args));
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        log.contains(&format!("resuming after epoch {before}")),
        "{log}"
    );
    let rows = metrics_rows(&run);
    let epochs: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(epochs, ["1", "2", "3", "4"], "each epoch once");
    assert!(run.join("done.json").exists());
    // A third run finds it complete.
    let o = ok(trainer(&args));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already complete"));
}

#[test]
fn bad_rows_are_reported_and_skipped() {
    let c = corpora();
    let dir = tempfile::tempdir().unwrap();
    let pre = dae_encoder(dir.path());
    // CH-818's layout: continuous arousal/valence around a midpoint, plus bad rows.
    let music = c.root.join("music");
    let mut csv = String::from("Songs,Arousal,Valence\n");
    for q in 0..4 {
        for i in 0..6 {
            let (a, v) = match q {
                0 => (4.0, 4.2),
                1 => (4.5, 1.5),
                2 => (1.0, 2.0),
                _ => (2.0, 4.5),
            };
            csv += &format!("audio/q{}_{i}.wav,{a},{v}\n", q + 1);
        }
    }
    csv += "audio/missing.wav,4.0,4.0\n";
    csv += "audio/q1_0.wav,high-ish,4.0\n";
    std::fs::write(music.join("continuous.csv"), csv).unwrap();
    let run = dir.path().join("ch");
    let o = ok(transfer_to(
        &pre,
        &music.join("continuous.csv"),
        "feat-ext",
        &run,
        &["--av-midpoint", "3", "--epochs", "1"],
    ));
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(log.contains("row 26: missing file"), "{log}");
    assert!(log.contains("row 27: unknown label"), "{log}");
    assert!(log.contains("2 bad rows skipped, 24 songs kept"), "{log}");
    let split: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("splits.json")).unwrap()).unwrap();
    let n: usize = ["train", "val", "test"]
        .iter()
        .map(|k| split[k].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 24);
}

#[test]
fn training_refuses_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let o = trainer(&[
        "pretrain",
        "--method",
        "dae",
        "--speech",
        "/nonexistent/speech",
        "--out",
        s(&dir.path().join("x")),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("/nonexistent/speech: not a folder"), "{err}");
    let o = transfer_to(
        dir.path(),
        &corpora().music(),
        "full",
        &dir.path().join("y"),
        &[],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not a pretraining run"), "{err}");
    assert!(!err.contains("panicked"));
    // Settings that cannot train are refused before anything is written, naming the flag.
    let pre = dir.path().join("pre");
    let music = corpora().music();
    for (flag, value, says) in [
        ("--epochs", "0", "at least 1"),
        ("--batch", "0", "at least 1"),
        ("--epoch-patches", "0", "at least 1"),
        ("--patience", "0", "at least 1"),
        ("--av-midpoint", "NaN", "not a finite number"),
        ("--av-midpoint", "inf", "not a finite number"),
    ] {
        let o = transfer_to(
            &pre,
            &music,
            "feat-ext",
            &dir.path().join("z"),
            &[flag, value],
        );
        assert!(!o.status.success(), "{flag} {value} accepted");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(flag) && err.contains(says),
            "{flag} {value}: {err}"
        );
        assert!(
            !dir.path().join("z").exists(),
            "{flag} {value}: a run folder was made"
        );
    }
    for (flag, value) in [("--epochs", "0"), ("--hours", "0"), ("--hours", "NaN")] {
        let o = trainer(&[
            "pretrain",
            "--method",
            "dae",
            "--speech",
            s(dir.path()),
            flag,
            value,
            "--out",
            s(&dir.path().join("p")),
        ]);
        assert!(!o.status.success(), "{flag} {value} accepted");
        assert!(String::from_utf8_lossy(&o.stderr).contains(flag));
    }
}

#[test]
fn reproduce_runs_the_whole_grid_and_resumes() {
    let c = corpora();
    let dir = tempfile::tempdir().unwrap();
    // The Mandarin music set in CH-818's layout (continuous arousal/valence).
    let music = c.root.join("music");
    let mut csv = String::from("Songs,Arousal,Valence\n");
    for q in 0..4 {
        for i in 0..6 {
            let (a, v) = [(0.6, 0.5), (0.7, -0.4), (-0.5, -0.6), (-0.4, 0.5)][q];
            csv += &format!("audio/q{}_{i}.wav,{a},{v}\n", q + 1);
        }
    }
    std::fs::write(music.join("ch818-like.csv"), csv).unwrap();
    let out = dir.path().join("grid");
    let (eng, man) = (c.speech("eng"), c.speech("man"));
    let (music_en, music_man) = (c.music(), music.join("ch818-like.csv"));
    let args = [
        "reproduce",
        "--speech-en",
        s(&eng),
        "--speech-man",
        s(&man),
        "--music-en",
        s(&music_en),
        "--music-man",
        s(&music_man),
        "--repeats",
        "1",
        "--pretrain-epochs",
        "1",
        "--transfer-epochs",
        "1",
        "--pretrain-batch",
        "8",
        "--transfer-batch",
        "32",
        "--epoch-patches",
        "16",
        "--out",
        s(&out),
    ];
    ok(trainer(&args));
    let report = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    for row in [
        "| SCAE-Feat. Ext. |",
        "| SCAE-Full |",
        "| CPC-Feat. Ext. |",
        "| CPC-Full |",
    ] {
        let line = report
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("{row} missing:\n{report}"));
        // Six columns (man2man .. mix2eng), each "Q / A / V", none missing.
        assert_eq!(line.matches(" / ").count(), 12, "{line}");
        assert!(!line.contains(" - |"), "{line}");
    }
    let results = std::fs::read_to_string(out.join("results.csv")).unwrap();
    // 24 cells x 2 levels x 3 tasks.
    assert_eq!(results.lines().count(), 1 + 24 * 6);
    assert_eq!(std::fs::read_dir(out.join("transfer")).unwrap().count(), 24);
    assert_eq!(std::fs::read_dir(out.join("pretrain")).unwrap().count(), 6);
    let svgs = std::fs::read_dir(out.join("plots"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert!(svgs >= 24 + 6, "{svgs} plots");
    let svg = std::fs::read_to_string(out.join("plots/confusion-scae-full-mix2man.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("Q4"));
    // A Full cell reuses its Feat. Ext. sibling's frozen phase instead of training it again.
    let full_log =
        std::fs::read_to_string(out.join("transfer/cpc-full-eng2eng-r0/log.txt")).unwrap();
    assert_eq!(
        full_log.matches("feat-ext epoch 1/1").count(),
        1,
        "{full_log}"
    );
    // Rerunning finds every cell complete and rewrites the same report.
    let o = ok(trainer(&args));
    let log = String::from_utf8_lossy(&o.stderr);
    assert_eq!(log.matches("already complete").count(), 30, "{log}");
    assert_eq!(
        std::fs::read_to_string(out.join("REPORT.md")).unwrap(),
        report
    );
}

#[test]
fn a_seed_makes_a_run_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    let losses = |name: &str| {
        let run = dir.path().join(name);
        ok(pretrain("cpc", &run, &[]));
        metrics_rows(&run)
            .iter()
            .map(|r| (r[2].clone(), r[3].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses("a"), losses("b"));
}

#[test]
fn data_parallel_training_runs_on_several_devices() {
    // Two copies of the CPU backend stand in for two GPUs: each batch is split between
    // them and burn's multi-device optimizer step sums the gradients.
    let c = corpora();
    let dir = tempfile::tempdir().unwrap();
    let pre = dir.path().join("pre");
    ok(pretrain("dae", &pre, &["--devices", "2"]));
    let run = dir.path().join("full");
    ok(transfer_to(
        &pre,
        &c.music(),
        "full",
        &run,
        &["--epochs", "2", "--batch", "16", "--devices", "2"],
    ));
    let rows = metrics_rows(&run);
    assert_eq!(rows.len(), 4, "two phases of two epochs");
    assert!(
        rows.iter()
            .all(|r| r[2].parse::<f64>().unwrap().is_finite())
    );
    assert!(run.join("model.mer").exists());
}

/// Every tensor of an encoder by name (weights and BatchNorm statistics), as f32 bytes.
fn encoder_tensors(encoder: &mer::model::Encoder) -> Vec<(String, Vec<u8>)> {
    use burn::store::ModuleSnapshot;
    encoder
        .collect(None, None, false)
        .into_iter()
        .map(|t| (t.name.clone(), t.to_bytes().unwrap().to_vec()))
        .collect()
}

fn model_encoder(path: &Path) -> mer::model::Encoder {
    let file = mer::model_file::ModelFile::from_bytes(&std::fs::read(path).unwrap()).unwrap();
    mer::inference::load_classifier(&file, &burn::prelude::Device::flex())
        .unwrap()
        .encoder
}

#[test]
fn infonce_pretraining_feeds_feat_ext_unchanged_and_full_changed() {
    let dir = tempfile::tempdir().unwrap();
    let pre = dir.path().join("pre");
    ok(pretrain("cpc", &pre, &["--objective", "infonce"]));
    for row in metrics_rows(&pre) {
        assert!(row[2].parse::<f64>().unwrap().is_finite(), "{row:?}");
        assert!(row[3].parse::<f64>().unwrap().is_finite(), "{row:?}");
    }
    let record = std::fs::read(pre.join("best.record")).unwrap();
    let cpc = {
        use burn::module::Module;
        let rec =
            burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(record))
                .unwrap();
        mer::model::Cpc::new(&burn::prelude::Device::flex())
            .try_load_record(rec)
            .unwrap()
    };
    let pretrained = encoder_tensors(&cpc.encoder);
    // BatchNorm statistics were re-estimated over the speech (log-mel values are far from
    // 0): two short epochs at Keras' momentum would have left them near 0.
    let input_mean = &pretrained
        .iter()
        .find(|(n, _)| n == "input_bn.running_mean")
        .unwrap()
        .1;
    let input_mean = f32::from_le_bytes(input_mean[..4].try_into().unwrap());
    assert!(input_mean.abs() > 1.0, "input running mean {input_mean}");

    let transfer = |mode: &str, out: &Path, from: Option<&Path>| {
        let mut extra = vec!["--precision", "f32"];
        if let Some(f) = from {
            extra.extend_from_slice(&["--frozen-from", s(f)]);
        }
        ok(transfer_run(&pre, mode, "1", out, &extra));
    };
    let (fe, full) = (dir.path().join("fe"), dir.path().join("full"));
    transfer("feat-ext", &fe, None);
    transfer("full", &full, Some(&fe));
    let fe_model = fe.join("model.mer");
    assert_eq!(
        encoder_tensors(&model_encoder(&fe_model)),
        pretrained,
        "Feat. Ext. changed the encoder"
    );
    let meta = |p: &Path| {
        mer::model_file::ModelFile::from_bytes(&std::fs::read(p).unwrap())
            .unwrap()
            .meta
            .training["schedule"]
            .clone()
    };
    let schedule = meta(&full.join("model.mer"));
    let changed = |tensors: Vec<(String, Vec<u8>)>| -> Vec<String> {
        tensors
            .into_iter()
            .zip(&pretrained)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, _)| a.0)
            .collect()
    };
    // The last fine-tuning epoch's weights (the run's last checkpoint): every convolution
    // moved; the statistics did not (BatchNorm stays in inference mode).
    let last = {
        use burn::module::Module;
        let bytes = std::fs::read(full.join("checkpoint/model.record")).unwrap();
        let rec = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .unwrap();
        mer::model::Classifier::new(&burn::prelude::Device::flex())
            .try_load_record(rec)
            .unwrap()
    };
    let moved = changed(encoder_tensors(&last.encoder));
    for block in ["block1", "block2", "block3"] {
        for conv in ["conv1", "conv2"] {
            let name = format!("{block}.{conv}.weight");
            assert!(moved.contains(&name), "{name} unchanged: {moved:?}");
        }
    }
    assert!(moved.iter().all(|n| !n.contains("running")), "{moved:?}");
    // The exported weights are the best phase's: fine-tuned, or the frozen phase's.
    let exported = changed(encoder_tensors(&model_encoder(&full.join("model.mer"))));
    if schedule["exported_phase"] == "full" {
        assert!(!exported.is_empty());
    } else {
        assert!(exported.is_empty(), "{exported:?}");
    }
    // The model file records the whole schedule.
    assert_eq!(schedule["pretraining"]["phase"], "cpc");
    assert_eq!(schedule["pretraining"]["epochs_run"], 2);
    assert_eq!(schedule["pretraining"]["samples_per_epoch"], 16);
    assert_eq!(schedule["feat_ext"]["epochs_run"], 2);
    assert!(schedule["feat_ext"]["optimizer_steps"].as_u64().unwrap() >= 2);
    assert_eq!(schedule["full"]["phase"], "full");
    assert!(schedule["full"]["best_epoch"].as_u64().unwrap() <= 2);
    let fe_schedule = meta(&fe_model);
    assert_eq!(fe_schedule["exported_phase"], "feat-ext");
    assert!(fe_schedule["full"].is_null());
    assert_eq!(fe_schedule["feat_ext"], schedule["feat_ext"]);
}

#[test]
fn baselines_and_evaluate_score_against_peoples_labels_only() {
    let c = corpora();
    let music = c.music();
    let dir = music.parent().unwrap();
    // The toy clips again, half of them with a teacher's valence label. The teacher's own
    // values: energy right on every clip; valence right on the people-labelled clips and
    // wrong on the teacher-labelled ones, so its valence AUC is 1 only if those are left out.
    let text = std::fs::read_to_string(&music).unwrap();
    let mut csv = String::from(
        "Songs,Quads,Arousal,Valence,ArousalSource,ValenceSource,TeacherEnergy,TeacherValence\n",
    );
    for (i, line) in text.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let (a, v) = (f[2] == "positive", f[3] == "positive");
        let teacher_labelled = i % 2 == 1;
        let tv = if v != teacher_labelled { 0.8 } else { 0.2 };
        csv += &format!(
            "{},{},{},{},game:toy,{},{},{tv}\n",
            f[0],
            f[1],
            f[2],
            f[3],
            if teacher_labelled {
                "teacher:toy"
            } else {
                "game:toy"
            },
            if a { 0.9 } else { 0.1 },
        );
    }
    let sourced = dir.join("sourced.csv");
    std::fs::write(&sourced, csv).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");

    let o = ok(trainer(&[
        "baselines",
        "--music",
        s(&sourced),
        "--json",
        "--cache",
        s(&cache),
    ]));
    let b: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(b["songs"], 24);
    let row = |name: &str| {
        b["scores"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"].as_str().unwrap().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} row: {b}"))
            .clone()
    };
    let teacher = row("teacher");
    assert_eq!(teacher["arousal_auc"], 1.0, "{teacher}");
    assert_eq!(
        teacher["valence_auc"], 1.0,
        "teacher-made labels were scored: {teacher}"
    );
    for name in ["loudness", "spectral centroid", "onset rate"] {
        let r = row(name);
        for k in ["arousal_auc", "valence_auc"] {
            let x = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&x), "{name} {k} {x}");
        }
    }
    // The constant: the most frequent quadrant among the 12 songs with both labels by people.
    let constant = row("always");
    let acc = constant["quadrant_accuracy"].as_f64().unwrap();
    assert!((3.0 / 12.0..=1.0).contains(&acc), "{constant}");
    // Markdown too.
    let o = ok(trainer(&[
        "baselines",
        "--music",
        s(&sourced),
        "--cache",
        s(&cache),
    ]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("| teacher"));

    // evaluate counts only people's labels in its song-level scores.
    let model = tmp.path().join("m.mer");
    ok(trainer(&["init", "--out", s(&model)]));
    let o = ok(trainer(&[
        "evaluate",
        "--model",
        s(&model),
        "--music",
        s(&sourced),
        "--split",
        "all",
        "--json",
        "--cache",
        s(&cache),
    ]));
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["people"]["arousal_songs"], 24);
    assert_eq!(e["people"]["valence_songs"], 12);
    assert_eq!(e["people"]["quadrant_songs"], 12);
    for k in ["arousal_auc", "valence_auc", "quadrant_accuracy"] {
        let x = e["people"][k].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&x), "{k} {x}");
    }
}
