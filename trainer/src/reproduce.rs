//! `trainer reproduce`: the paper's 24 cells (SCAE and CPC x Feat. Ext. and Full x
//! pretrained on eng, man, mix x tested on both music sets), repeated, resumable cell by
//! cell, with a Table-2-style report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::prelude::*;
use mer::Quadrant;
use mer::model_file::{Precision, TransferMode};

use crate::cli::values::{self, finite, positive, positive_hours};
use crate::commands::{self, PretrainConfig, PretrainMethod, TransferConfig};
use crate::data::SpeechSource;
use crate::evaluation::{Evaluation, LevelEval};
use crate::io::write_atomic;
use crate::metrics::Confusion;
use crate::plots;
use crate::run::Run;
use crate::train::CpcObjective;

/// The grid's settings, parsed from `trainer reproduce`'s flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ReproduceOptions {
    /// English speech folder
    #[arg(long)]
    pub speech_en: PathBuf,
    /// Mandarin speech folder
    #[arg(long)]
    pub speech_man: PathBuf,
    /// English-lyrics music set: CSV (4Q-emotion's layout) or a corpus folder
    #[arg(long)]
    pub music_en: PathBuf,
    /// Mandarin-lyrics music set: CSV (CH-818's layout, or 4Q's) or a corpus folder
    #[arg(long)]
    pub music_man: PathBuf,
    /// Midpoint of continuous arousal/valence in --music-man (default: the corpus's
    /// own for a DEAM, PMEmo or emoMusic folder, 0 for a CSV)
    #[arg(long, value_parser = finite)]
    pub music_man_midpoint: Option<f64>,
    #[arg(long, value_parser = positive, default_value_t = 4)]
    pub repeats: usize,
    /// Hours of speech per pretraining (the paper: 3 or 30)
    #[arg(long, value_parser = positive_hours)]
    pub hours: Option<f64>,
    #[arg(long, value_parser = positive, default_value_t = 100)]
    pub pretrain_epochs: usize,
    #[arg(long, value_parser = positive, default_value_t = 100)]
    pub transfer_epochs: usize,
    #[arg(long, value_parser = positive, default_value_t = 32)]
    pub pretrain_batch: usize,
    #[arg(long, value_parser = positive, default_value_t = 64)]
    pub transfer_batch: usize,
    /// Patches (CPC: windows) drawn per pretraining epoch; all when absent
    #[arg(long, value_parser = positive)]
    pub epoch_patches: Option<usize>,
    /// Patches drawn per transfer epoch (default: --epoch-patches)
    #[arg(long, value_parser = positive)]
    pub transfer_epoch_patches: Option<usize>,
    #[arg(long, value_enum, default_value_t = CpcObjective::Binary)]
    pub objective: CpcObjective,
    /// Pretraining methods to run
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [PretrainMethod::Dae, PretrainMethod::Cpc])]
    pub methods: Vec<PretrainMethod>,
    #[arg(long, value_parser = values::precision(), default_value = "int8")]
    pub precision: Precision,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ReproduceOptions {
    /// Patches drawn per transfer epoch: `--transfer-epoch-patches`, or `--epoch-patches`.
    fn transfer_epoch_patches(&self) -> Option<usize> {
        self.transfer_epoch_patches.or(self.epoch_patches)
    }
}

const LANGS: [&str; 3] = ["eng", "man", "mix"];
const MUSIC: [&str; 2] = ["eng", "man"];

fn method_name(m: PretrainMethod) -> &'static str {
    match m {
        PretrainMethod::Dae => "scae",
        PretrainMethod::Cpc => "cpc",
    }
}

fn mode_name(m: TransferMode) -> &'static str {
    match m {
        TransferMode::FeatExt => "featext",
        TransferMode::Full => "full",
    }
}

/// One finished cell of the grid.
struct CellResult {
    method: PretrainMethod,
    mode: TransferMode,
    pre: &'static str,
    music: &'static str,
    repeat: usize,
    dir: PathBuf,
    eval: Evaluation,
}

pub fn reproduce(o: &ReproduceOptions, out: &Path, devices: &[Device]) -> Result<()> {
    std::fs::create_dir_all(out)?;
    let cache = out.join(commands::FEATURE_CACHE);
    let speech = |lang: &str| -> Vec<SpeechSource> {
        let en = SpeechSource {
            language: "eng".into(),
            dir: o.speech_en.clone(),
        };
        let man = SpeechSource {
            language: "man".into(),
            dir: o.speech_man.clone(),
        };
        match lang {
            "eng" => vec![en],
            "man" => vec![man],
            _ => vec![en, man],
        }
    };
    let total = o.methods.len() * LANGS.len() * o.repeats * (1 + 2 * MUSIC.len());
    let mut step = 0;
    let mut results = Vec::new();
    for repeat in 0..o.repeats {
        let seed = o.seed + repeat as u64;
        for &method in &o.methods {
            for pre in LANGS {
                let pre_dir = out
                    .join("pretrain")
                    .join(format!("{}-{pre}-r{repeat}", method_name(method)));
                step += 1;
                eprintln!(
                    "== [{step}/{total}] pretrain {} on {pre} (repeat {repeat})",
                    method_name(method)
                );
                let cfg = PretrainConfig {
                    method,
                    objective: o.objective,
                    speech: speech(pre),
                    hours: o.hours,
                    epochs: o.pretrain_epochs,
                    batch: o.pretrain_batch,
                    epoch_patches: o.epoch_patches,
                    seed,
                    schedule: PretrainConfig::schedule(),
                    packs: Vec::new(),
                };
                commands::pretrain(&cfg, &pre_dir, &cache, devices)
                    .with_context(|| format!("pretraining {}", pre_dir.display()))?;
                for music in MUSIC {
                    let (csv, midpoint) = match music {
                        "eng" => (&o.music_en, crate::data::default_midpoint(&o.music_en)?),
                        _ => (
                            &o.music_man,
                            match o.music_man_midpoint {
                                Some(m) => m,
                                None => crate::data::default_midpoint(&o.music_man)?,
                            },
                        ),
                    };
                    for mode in [TransferMode::FeatExt, TransferMode::Full] {
                        let name = format!(
                            "{}-{}-{pre}2{music}-r{repeat}",
                            method_name(method),
                            mode_name(mode)
                        );
                        let dir = out.join("transfer").join(&name);
                        step += 1;
                        eprintln!("== [{step}/{total}] transfer {name}");
                        let cfg = TransferConfig {
                            encoder: pre_dir.clone(),
                            music: csv.clone(),
                            music_name: music.into(),
                            av_midpoint: midpoint,
                            mode,
                            epochs: o.transfer_epochs,
                            batch: o.transfer_batch,
                            epoch_patches: o.transfer_epoch_patches(),
                            full_epoch_patches: None,
                            full_epochs: None,
                            seed,
                            precision: o.precision,
                            schedules: TransferConfig::schedules(),
                            fold: None,
                            music_pack: None,
                        };
                        if mode == TransferMode::Full {
                            let sibling = out.join("transfer").join(format!(
                                "{}-featext-{pre}2{music}-r{repeat}",
                                method_name(method)
                            ));
                            if Run::at(&sibling).done() {
                                commands::reuse_frozen_phase(&sibling, &dir, &cfg)?;
                            }
                        }
                        commands::transfer(&cfg, &dir, &cache, devices)
                            .with_context(|| format!("transfer {}", dir.display()))?;
                        let eval = Run::at(&dir).read_evaluation("test")?;
                        results.push(CellResult {
                            method,
                            mode,
                            pre,
                            music,
                            repeat,
                            dir,
                            eval,
                        });
                    }
                }
            }
        }
    }
    write_report(o, out, &results)
}

/// What a table of the report shows of each run: quadrant, arousal and valence scores.
type Pick = fn(&Evaluation) -> [f64; 3];

/// The F-scores (support-weighted, or macro) of quadrant, arousal and valence at a level.
fn f1s(l: &LevelEval, macro_avg: bool) -> [f64; 3] {
    [&l.quadrant, &l.arousal, &l.valence].map(|t| {
        if macro_avg {
            t.scores.macro_avg.f1
        } else {
            t.scores.weighted.f1
        }
    })
}

fn fmt(v: &[f64]) -> String {
    let (m, s) = crate::metrics::mean_std(v).unwrap_or((0.0, 0.0));
    if v.len() > 1 {
        format!("{m:.2}±{s:.2}")
    } else {
        format!("{m:.2}")
    }
}

/// Draws the training curves of the run in `run_dir` to `plots_dir/file`; false when the
/// run has no curves to draw.
fn curves(plots_dir: &Path, run_dir: &Path, file: &str, title: &str) -> bool {
    plots::training_curves(
        &Run::at(run_dir).metrics_path(),
        &plots_dir.join(file),
        title,
    )
    .is_ok()
}

fn write_report(o: &ReproduceOptions, out: &Path, results: &[CellResult]) -> Result<()> {
    let plots_dir = out.join("plots");
    std::fs::create_dir_all(&plots_dir)?;
    // results.csv: every cell and repeat.
    let mut csv = String::from(
        "method,mode,pretrain,music,repeat,level,task,precision_weighted,recall_weighted,f1_weighted,precision_macro,recall_macro,f1_macro,accuracy\n",
    );
    for r in results {
        for (level, task, t) in r.eval.tasks() {
            let (w, m) = (&t.scores.weighted, &t.scores.macro_avg);
            csv += &format!(
                "{},{},{},{},{},{level},{task},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4},{:.4}\n",
                method_name(r.method),
                mode_name(r.mode),
                r.pre,
                r.music,
                r.repeat,
                w.precision,
                w.recall,
                w.f1,
                m.precision,
                m.recall,
                m.f1,
                t.scores.accuracy
            );
        }
    }
    write_atomic(&out.join("results.csv"), csv.as_bytes())?;

    // Group the repeats of each cell.
    type Key = (&'static str, &'static str, &'static str, &'static str);
    let mut cells: BTreeMap<Key, Vec<&CellResult>> = BTreeMap::new();
    for r in results {
        cells
            .entry((method_name(r.method), mode_name(r.mode), r.pre, r.music))
            .or_default()
            .push(r);
    }
    let columns: [(&str, &str); 6] = [
        ("man", "man"),
        ("eng", "man"),
        ("mix", "man"),
        ("eng", "eng"),
        ("man", "eng"),
        ("mix", "eng"),
    ];
    let table = |title: &str, pick: &dyn Fn(&Evaluation) -> [f64; 3]| {
        let mut s = format!("### {title}\n\n| model |");
        for (p, m) in columns {
            s += &format!(" {p}2{m} Q / A / V |");
        }
        s += "\n|---|---|---|---|---|---|---|\n";
        for &method in &o.methods {
            for mode in [TransferMode::FeatExt, TransferMode::Full] {
                s += &format!("| {}-{} |", method.method().label(), mode.label());
                for (p, m) in columns {
                    match cells.get(&(method_name(method), mode_name(mode), p, m)) {
                        Some(rs) => {
                            let vals: Vec<[f64; 3]> = rs.iter().map(|r| pick(&r.eval)).collect();
                            let col = |k: usize| vals.iter().map(|v| v[k]).collect::<Vec<_>>();
                            s += &format!(
                                " {} / {} / {} |",
                                fmt(&col(0)),
                                fmt(&col(1)),
                                fmt(&col(2))
                            );
                        }
                        None => s += " - |",
                    }
                }
                s += "\n";
            }
        }
        s
    };
    let mut md = String::from("# Reproduction of Table 2 (Gómez-Cañón et al., ICASSP 2021)\n\n");
    md += &format!(
        "Speech: English {} and Mandarin {}{}. Music: \"eng\" = {}, \"man\" = {}. {} repeat(s) (mean±std); pretraining {} epochs, transfer {} epochs per phase; model files in {}.\n\nxx2yy = encoder pretrained on speech xx, classifier trained and tested on music yy. Q / A / V = quadrant, arousal, valence.\n\n",
        o.speech_en.display(),
        o.speech_man.display(),
        o.hours
            .map(|h| format!(", {h} h drawn per configuration"))
            .unwrap_or_default(),
        o.music_en.display(),
        o.music_man.display(),
        o.repeats,
        o.pretrain_epochs,
        o.transfer_epochs,
        format!("{:?}", o.precision).to_lowercase(),
    );
    let per_epoch = |n: Option<usize>| n.map_or("all".to_string(), |n| n.to_string());
    md += &format!(
        "Drawn per epoch: {} pretraining patches (CPC: windows of 6), {} transfer patches; batches {} / {}; seed {}.\n\nCommand: `trainer {}`\n\n",
        per_epoch(o.epoch_patches),
        per_epoch(o.transfer_epoch_patches()),
        o.pretrain_batch,
        o.transfer_batch,
        o.seed,
        std::env::args().skip(1).collect::<Vec<_>>().join(" "),
    );
    let tables: [(&str, Pick); 3] = [
        (
            "F-score, support-weighted, over 1-s patches (the paper's numbers)",
            |e| f1s(&e.patch, false),
        ),
        ("F-score, macro, over 1-s patches", |e| f1s(&e.patch, true)),
        (
            "F-score, support-weighted, over songs (mean of patch probabilities)",
            |e| f1s(&e.song, false),
        ),
    ];
    md += &tables
        .iter()
        .map(|(title, pick)| table(title, pick))
        .collect::<Vec<_>>()
        .join("\n");
    md += "\n## Plots\n\nQuadrant confusion matrices (test patches, summed over repeats) and training curves (repeat 0).\n\n";
    for (key, rs) in &cells {
        let name = format!("{}-{}-{}2{}", key.0, key.1, key.2, key.3);
        let mut sum = Confusion::new(&Quadrant::NAMES);
        for r in rs {
            for (i, row) in r.eval.patch.quadrant.confusion.counts.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    sum.counts[i][j] += v;
                }
            }
        }
        let cm = plots_dir.join(format!("confusion-{name}.svg"));
        plots::confusion(&sum, &cm, &format!("{name}: quadrant, test patches"))?;
        let mut line = format!("- {name}: [confusion](plots/confusion-{name}.svg)");
        if let Some(r0) = rs.iter().find(|r| r.repeat == 0) {
            let file = format!("training-{name}.svg");
            if curves(&plots_dir, &r0.dir, &file, &format!("{name}: transfer")) {
                line += &format!(", [training](plots/{file})");
            }
        }
        md += &line;
        md += "\n";
    }
    for &method in &o.methods {
        for pre in LANGS {
            let m = method_name(method);
            let dir = out.join("pretrain").join(format!("{m}-{pre}-r0"));
            let file = format!("pretrain-{m}-{pre}.svg");
            if curves(
                &plots_dir,
                &dir,
                &file,
                &format!("pretraining {m} on {pre}"),
            ) {
                md += &format!("- pretraining {m} on {pre}: [curves](plots/{file})\n");
            }
        }
    }
    write_atomic(&out.join("REPORT.md"), md.as_bytes())?;
    eprintln!("report -> {}", out.join("REPORT.md").display());
    Ok(())
}
