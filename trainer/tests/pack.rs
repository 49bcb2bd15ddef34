//! Feature packs end to end: `trainer pack` of a tiny speech folder and a tiny music CSV,
//! a pretraining and a transfer run on the packs alone, their size against the f32 patch
//! cache of the same files, and damaged or misplaced packs refused in one line.

mod common;

use std::path::{Path, PathBuf};

use common::{
    assert_clean_failure, assert_evaluation_is_stored, ok, s, stderr, stdout, trainer,
    transfer_feat_ext, utterance, write_mono, write_music_set,
};
use trainer::data::{self, SpeechSource, Utterance};

/// Six 4-s utterances in two speaker folders, and twelve 3-s clips (three per quadrant)
/// with a 4Q-emotion-style CSV.
fn corpora(root: &Path) -> (PathBuf, PathBuf) {
    let speech = root.join("speech/eng");
    for i in 0..6u64 {
        let d = speech.join(format!("speaker{}", i % 2));
        std::fs::create_dir_all(&d).unwrap();
        write_mono(
            &d.join(format!("utt{i}.wav")),
            16_000,
            &utterance(4.0, false, i),
        );
    }
    let csv_path = write_music_set(&root.join("music"), 3);
    (speech, csv_path)
}

/// The bytes of every file in a folder.
fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `trainer pack ...`, which must succeed: its summary line's sha256.
fn pack(args: &[&str]) -> String {
    let mut all = vec!["pack"];
    all.extend_from_slice(args);
    let o = ok(trainer(&all));
    let line = stdout(&o);
    assert_eq!(line.lines().count(), 1, "one summary line: {line}");
    line.trim().rsplit(' ').next().unwrap().to_string()
}

#[test]
fn runs_train_on_packs_several_times_smaller_than_the_patch_cache() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (speech, csv) = corpora(d);
    let (speech_pack, music_pack) = (d.join("eng.merfeat"), d.join("music.merfeat"));
    let (speech_cache, music_cache) = (d.join("cache-speech"), d.join("cache-music"));
    let speech_sha = pack(&[
        "--speech",
        &format!("eng={}", s(&speech)),
        "--cache",
        s(&speech_cache),
        "--out",
        s(&speech_pack),
    ]);
    let music_sha = pack(&[
        "--music",
        s(&csv),
        "--cache",
        s(&music_cache),
        "--out",
        s(&music_pack),
    ]);
    // f16 against f32, and frames against patches that overlap about 2x (less for such
    // short files: 7 patches of 4-s utterances cover 121 frames, 5 of 3-s clips 91).
    for (p, cache) in [(&speech_pack, &speech_cache), (&music_pack, &music_cache)] {
        let (packed, cached) = (std::fs::metadata(p).unwrap().len(), folder_bytes(cache));
        assert!(
            packed * 3 < cached,
            "{}: {packed} bytes, the patch cache {cached}",
            p.display()
        );
    }
    // The pack of the whole folder draws what the folder draws, in the same order.
    let names = |src: &str| -> Vec<String> {
        let src: SpeechSource = src.parse().unwrap();
        let draw = data::draw_speech(std::slice::from_ref(&src), Some(10.0 / 3600.0), 5).unwrap();
        draw.drawn
            .iter()
            .map(|(_, u, _)| match u {
                Utterance::File(p) => p.strip_prefix(&speech).unwrap().display().to_string(),
                Utterance::Packed { pack, entry } => {
                    draw.packs[*pack].header().corpus.name(*entry).to_string()
                }
            })
            .collect()
    };
    let drawn = names(s(&speech_pack));
    assert_eq!(drawn.len(), 3, "{drawn:?}");
    assert_eq!(drawn, names(s(&speech)));

    // Pretraining on the speech pack alone (the language is the one it was packed with).
    let pre = d.join("pre");
    let pretrain = [
        "pretrain",
        "--method",
        "dae",
        "--speech",
        s(&speech_pack),
        "--epochs",
        "1",
        "--batch",
        "8",
        "--epoch-patches",
        "16",
        "--out",
        s(&pre),
    ];
    ok(trainer(&pretrain));
    let cfg = json(&pre.join("config.json"));
    assert_eq!(cfg["speech"][0]["language"], "eng");
    assert_eq!(cfg["packs"][0]["sha256"], speech_sha.as_str());
    assert_eq!(cfg["packs"][0]["path"], s(&speech_pack));
    let log = std::fs::read_to_string(pre.join("log.txt")).unwrap();
    assert!(log.contains("pretrain Dae on eng"), "{log}");

    // Transfer on the music pack alone; the run records it; evaluate reads it too.
    let run = d.join("transfer");
    let transfer = || transfer_feat_ext(&pre, &music_pack, &run, &[]);
    ok(transfer());
    let cfg = json(&run.join("config.json"));
    assert_eq!(cfg["music_pack"]["sha256"], music_sha.as_str());
    assert_eq!(
        cfg["music_name"], "music",
        "the CSV's folder, kept in the pack"
    );
    let model = run.join("model.mer");
    let meta: serde_json::Value =
        serde_json::from_slice(&ok(trainer(&["inspect", "--json", s(&model)])).stdout).unwrap();
    assert_eq!(meta["variant"]["music"], serde_json::json!(["music"]));
    let evaluate = |music: &Path| {
        let o = ok(trainer(&[
            "evaluate",
            "--model",
            s(&model),
            "--music",
            s(music),
            "--json",
        ]));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let e = evaluate(&music_pack);
    assert_eq!(e["songs"], 4);
    assert_evaluation_is_stored(&e, &meta);
    // The CSV names the same songs (the split is by name).
    assert_eq!(evaluate(&csv)["songs"], 4);
    // A rerun resumes (here: finds the run complete) with the same pack.
    let o = ok(transfer());
    assert!(stderr(&o).contains("already complete"), "{}", stderr(&o));

    // Damaged packs, and packs in the wrong place.
    let bytes = std::fs::read(&music_pack).unwrap();
    let truncated = d.join("truncated.merfeat");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).unwrap();
    let mut flipped_bytes = bytes.clone();
    flipped_bytes[bytes.len() / 2] ^= 0x04;
    let flipped = d.join("flipped.merfeat");
    std::fs::write(&flipped, &flipped_bytes).unwrap();
    let eval_on = |music: &Path| {
        trainer(&[
            "evaluate",
            "--model",
            s(&model),
            "--music",
            s(music),
            "--split",
            "all",
        ])
    };
    assert_clean_failure(&eval_on(&truncated), "truncated.merfeat", "checksum");
    assert_clean_failure(&eval_on(&flipped), "flipped.merfeat", "checksum");
    assert_clean_failure(
        &eval_on(&speech_pack),
        "eng.merfeat",
        "a feature pack of speech, not of music",
    );
    let (other_run, third_run) = (d.join("pre-2"), d.join("pre-3"));
    let mut wrong = pretrain;
    (wrong[4], wrong[12]) = (s(&music_pack), s(&other_run));
    assert_clean_failure(
        &trainer(&wrong),
        "music.merfeat",
        "a feature pack of music, not of speech",
    );
    (wrong[4], wrong[12]) = (s(&truncated), s(&third_run));
    assert_clean_failure(&trainer(&wrong), "truncated.merfeat", "checksum");
    let o = trainer(&[
        "evaluate",
        "--model",
        s(&model),
        "--music",
        s(&music_pack),
        "--av-midpoint",
        "0.5",
    ]);
    assert_clean_failure(&o, "music.merfeat", "midpoint 0");
    // A run recorded on a pack does not go on with another pack at the same place.
    std::fs::write(&music_pack, &flipped_bytes[..bytes.len() - 32]).unwrap();
    let mut other = flipped_bytes[..bytes.len() - 32].to_vec();
    other.extend_from_slice(&[7; 32]);
    std::fs::write(&music_pack, &other).unwrap();
    assert_clean_failure(&transfer(), "transfer", "another configuration");
}
