//! `trainer pretrain`: an encoder pretrained on speech without labels (SCAE or CPC), and
//! the encoder of a finished pretraining run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use mer::Patches;
use mer::model::{Cpc, Encoder, Scae};
use mer::model_file::Method;
use serde::{Deserialize, Serialize};

use super::{features_of, loop_options};
use crate::cli::values::{positive, positive_hours};
use crate::data::{self, FeatureCache, PackRef, SpeechSource, Utterance};
use crate::run::{Run, load_record};
use crate::train::{self, CpcObjective, PatchSet, Schedule};

/// Pretraining method on the command line ("dae" is the paper's SCAE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PretrainMethod {
    #[value(alias = "scae")]
    Dae,
    Cpc,
}

impl PretrainMethod {
    pub fn method(self) -> Method {
        match self {
            PretrainMethod::Dae => Method::Scae,
            PretrainMethod::Cpc => Method::Cpc,
        }
    }

    /// The name of its training phase (its `phase-<name>.json` in the run folder).
    pub fn phase(self) -> &'static str {
        match self {
            PretrainMethod::Dae => train::phase::DAE,
            PretrainMethod::Cpc => train::phase::CPC,
        }
    }
}

/// A pretraining run's configuration (its `config.json`), parsed from `trainer pretrain`'s
/// flags (the help lists `--objective` after `--epoch-patches`, as it always has).
#[derive(Debug, Clone, Serialize, Deserialize, clap::Args)]
pub struct PretrainConfig {
    #[arg(long, value_enum)]
    pub method: PretrainMethod,
    /// CPC objective
    #[arg(long, value_enum, default_value_t = CpcObjective::Binary, display_order = 6)]
    pub objective: CpcObjective,
    /// Speech folder, as LANG=DIR (e.g. eng=/data/LibriSpeech) or DIR; repeat to mix
    /// corpora in equal hours. A feature pack (`trainer pack --speech`, known by its
    /// content) stands in for its folder: a pack of a whole folder draws the same files
    #[arg(long, required = true)]
    pub speech: Vec<SpeechSource>,
    /// Hours of speech drawn at random (seeded); all when absent
    #[arg(long, value_parser = positive_hours)]
    pub hours: Option<f64>,
    #[arg(long, value_parser = positive, default_value_t = 100)]
    pub epochs: usize,
    /// Batch size (the original used 4 for the SCAE)
    #[arg(long, value_parser = positive, default_value_t = 32)]
    pub batch: usize,
    /// Patches (CPC: windows) drawn per epoch; all when absent
    #[arg(long, value_parser = positive)]
    pub epoch_patches: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(skip = PretrainConfig::schedule())]
    pub schedule: Schedule,
    /// The feature packs among `speech`, with their checksums: what the run trained on.
    #[arg(skip)]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<PackRef>,
}

impl PretrainConfig {
    /// docs/METHOD.md, "Pretraining schedule": Adam lr 1e-3, decay 4e-6, ReduceLROnPlateau
    /// patience 5, early stop 50; batch 4 for the SCAE in the original (a larger batch
    /// trains faster on a CPU).
    pub fn schedule() -> Schedule {
        Schedule {
            lr: 1e-3,
            decay: 4e-6,
            plateau_factor: 0.5,
            plateau_patience: 5,
            early_stop_patience: 50,
        }
    }

    /// This configuration with `packs` naming the feature packs among its speech corpora
    /// as they are now.
    pub fn with_packs(&self) -> Result<Self> {
        let mut packs = Vec::new();
        for s in &self.speech {
            packs.extend(PackRef::of(&s.dir)?);
        }
        Ok(Self {
            packs,
            ..self.clone()
        })
    }

    pub fn languages(&self) -> Vec<String> {
        let mut l: Vec<String> = self.speech.iter().map(|s| s.language.clone()).collect();
        l.dedup();
        l
    }
}

pub fn pretrain(
    cfg: &PretrainConfig,
    out: &Path,
    cache_dir: &Path,
    devices: &[Device],
) -> Result<()> {
    let cfg = &cfg.with_packs()?;
    let run = Run::open(out, cfg)?;
    if run.done() {
        run.log(&format!("{}: already complete", out.display()));
        return Ok(());
    }
    if cfg.speech.is_empty() {
        bail!("no --speech folder given");
    }
    let set = PatchSet::new(speech_patches(cfg, cache_dir)?);
    // docs/METHOD.md, "Pretraining schedule": 85 % train / 15 % validation, by utterance.
    let (train_set, val_set) = set.split_files(0.15, cfg.seed);
    run.log(&format!(
        "pretrain {:?} on {}: {} utterances ({} patches) train, {} ({} patches) validation",
        cfg.method,
        cfg.languages().join("+"),
        train_set.files(),
        train_set.len(),
        val_set.files(),
        val_set.len()
    ));
    if train_set.is_empty() || val_set.is_empty() {
        bail!(
            "not enough speech: every utterance needs at least one 1-s patch, and two utterances are needed"
        );
    }
    let opts = loop_options(devices, cfg.epochs, cfg.batch, cfg.seed, cfg.epoch_patches)?;
    let train_device = opts.devices[0].clone();
    match cfg.method {
        PretrainMethod::Dae => {
            train::pretrain_scae(
                &run,
                &train_set,
                &val_set,
                &train_device,
                &cfg.schedule,
                &opts,
            )?;
        }
        PretrainMethod::Cpc => {
            train::pretrain_cpc(
                &run,
                &train_set,
                &val_set,
                cfg.objective,
                &train_device,
                &cfg.schedule,
                &opts,
            )?;
        }
    }
    run.finish(&serde_json::json!({
        "method": cfg.method,
        "languages": cfg.languages(),
        "utterances": set_sizes(&train_set, &val_set),
    }))?;
    run.log(&format!("pretraining done: {}", run.best_path().display()));
    Ok(())
}

/// The patches of the utterances drawn (those with at least one), from the feature cache
/// or the packs, in the order drawn.
fn speech_patches(cfg: &PretrainConfig, cache_dir: &Path) -> Result<Vec<Patches>> {
    let mut draw = data::draw_speech(&cfg.speech, cfg.hours, cfg.seed)?;
    // The packs opened are those recorded (their content checked against their checksum).
    for (recorded, opened) in cfg.packs.iter().zip(&draw.packs) {
        if recorded.sha256 != opened.sha256() {
            bail!(
                "{}: changed while the run started (SHA-256 {}, recorded {})",
                recorded.path.display(),
                opened.sha256(),
                recorded.sha256
            );
        }
    }
    let paths: Vec<PathBuf> = draw.files();
    let mut from_files = if paths.is_empty() {
        Vec::new()
    } else {
        features_of(&FeatureCache::new(cache_dir)?, &paths, "speech")
    }
    .into_iter();
    let mut patches = Vec::with_capacity(draw.drawn.len());
    for (_, utterance, _) in &draw.drawn {
        let p = match utterance {
            Utterance::File(_) => from_files.next().flatten(),
            Utterance::Packed { pack, entry } => Some(draw.packs[*pack].patches(*entry)?),
        };
        patches.extend(p.filter(|p| p.n > 0));
    }
    Ok(patches)
}

fn set_sizes(train: &PatchSet, val: &PatchSet) -> serde_json::Value {
    serde_json::json!({
        "train_files": train.files(), "train_patches": train.len(),
        "val_files": val.files(), "val_patches": val.len(),
    })
}

/// The encoder of a finished pretraining run, and its method and languages.
pub fn load_encoder(run_dir: &Path, device: &Device) -> Result<(Encoder, PretrainConfig)> {
    let run = Run::at(run_dir);
    let cfg: PretrainConfig = run.finished_config("pretraining", "pretraining")?;
    let bytes = std::fs::read(run.best_path())
        .with_context(|| format!("{}: no best.record", run_dir.display()))?;
    let encoder = match cfg.method {
        PretrainMethod::Dae => load_record(Scae::new(device), &bytes)?.encoder,
        PretrainMethod::Cpc => load_record(Cpc::new(device), &bytes)?.encoder,
    };
    Ok((encoder, cfg))
}
