//! The training commands' flags and how each runs: pack; pretrain; transfer (one run, one
//! that starts from a Feat. Ext. run's frozen phase, or k folds); evaluate and export,
//! scored as [`Scoring`] says; the baselines; reproduce. (Their descriptions in the help
//! are the doc comments of [`super::Command`]'s variants.)

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use mer::model_file::{Precision, TransferMode};

use super::devices::{DeviceArg, TrainDevices, device};
use super::values::{self, finite, midpoint, positive, positive_hours};
use crate::baselines;
use crate::commands::{self, PretrainConfig, TransferConfig};
use crate::data::pack::{self, Corpus};
use crate::data::{AvMapping, FeatureCache, SpeechSource};
use crate::evaluation::Evaluation;
use crate::reproduce::{self, ReproduceOptions};

#[derive(clap::Args, Debug)]
pub struct Pack {
    /// Speech folder, as LANG=DIR or DIR (the language is then the folder's name): every
    /// audio file, in an order that `pretrain --speech PACK --hours H --seed S` draws
    /// from exactly as from the folder
    #[arg(long, required_unless_present = "music", conflicts_with = "music")]
    speech: Option<SpeechSource>,
    /// With --speech: only the files `pretrain --hours H --seed SEED` would draw
    #[arg(long, value_parser = positive_hours, requires = "speech")]
    hours: Option<f64>,
    /// The seed of the --hours draw
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Music set, read as `transfer --music` reads it: an annotation CSV, or a DEAM, PMEmo
    /// or emoMusic folder; the pack keeps its labels
    #[arg(long)]
    music: Option<PathBuf>,
    /// With --music: the midpoint of continuous ratings the labels are made with (default:
    /// the corpus's own, or 0 for a CSV); runs on the pack use it
    #[arg(long, value_parser = finite, requires = "music")]
    av_midpoint: Option<f64>,
    /// With --music: the set's name in model files (default: the CSV's folder name)
    #[arg(long, requires = "music")]
    music_name: Option<String>,
    /// Feature cache folder to read and fill (default: none, the features are computed
    /// afresh)
    #[arg(long)]
    cache: Option<PathBuf>,
    /// The pack to write (by convention NAME.merfeat; written atomically)
    #[arg(long)]
    out: PathBuf,
}

impl Pack {
    pub fn run(self) -> Result<()> {
        let cache = self.cache.as_deref();
        let summary = match (&self.speech, &self.music) {
            (Some(speech), _) => {
                commands::pack_speech(speech, self.hours, self.seed, cache, &self.out)?
            }
            (None, Some(music)) => {
                let mapping = AvMapping {
                    midpoint: midpoint(self.av_midpoint, music)?,
                };
                let name = self
                    .music_name
                    .clone()
                    .unwrap_or_else(|| music_folder_name(music));
                commands::pack_music(music, mapping, &name, cache, &self.out)?
            }
            (None, None) => bail!("give --speech DIR or --music CSV"),
        };
        println!("{}", summary.line());
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Pretrain {
    #[command(flatten)]
    cfg: PretrainConfig,
    #[command(flatten)]
    devices: TrainDevices,
    /// Feature cache folder (default: feature-cache beside the run folder)
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Run folder
    #[arg(long)]
    out: PathBuf,
}

impl Pretrain {
    pub fn run(self) -> Result<()> {
        let cache = self
            .cache
            .unwrap_or_else(|| commands::default_cache(&self.out));
        commands::pretrain(&self.cfg, &self.out, &cache, &self.devices.init()?)
    }
}

#[derive(clap::Args, Debug)]
pub struct Transfer {
    #[command(flatten)]
    cfg: TransferConfig,
    /// Name of the music set stored in the model (default: the CSV's folder name, or the
    /// name a feature pack was made with); `a+b` names a CSV that joins two sets
    #[arg(long, display_order = 2)]
    music_name: Option<String>,
    /// With --mode full: a finished Feat. Ext. run of the same encoder, music and
    /// settings whose frozen phase this run starts from instead of training it again
    #[arg(long, display_order = 3)]
    frozen_from: Option<PathBuf>,
    /// Midpoint of continuous arousal/valence ratings: above it is positive (default:
    /// the corpus's own scale midpoint for a DEAM, PMEmo or emoMusic folder, 0 for a
    /// CSV as CH-818's)
    #[arg(long, value_parser = finite, display_order = 4)]
    av_midpoint: Option<f64>,
    /// Clip-level stratified k-fold cross-validation instead of the paper's split: one
    /// run per fold in OUT/fold-<i>, and OUT/folds.md with each metric's mean ± std
    #[arg(long, value_parser = positive, display_order = 6)]
    folds: Option<usize>,
    /// Epochs without a better validation loss before a phase stops (the original: 50)
    #[arg(long, value_parser = positive, display_order = 12)]
    patience: Option<usize>,
    #[command(flatten, next_display_order = 15)]
    devices: TrainDevices,
    #[arg(long)]
    cache: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

impl Transfer {
    pub fn run(self) -> Result<()> {
        let cfg = TransferConfig {
            music_name: self
                .music_name
                .unwrap_or_else(|| music_folder_name(&self.cfg.music)),
            av_midpoint: midpoint(self.av_midpoint, &self.cfg.music)?,
            schedules: TransferConfig::schedules_with_patience(self.patience),
            ..self.cfg
        };
        let out = &self.out;
        let cache = self.cache.unwrap_or_else(|| commands::default_cache(out));
        let devices = self.devices.init()?;
        if let Some(k) = self.folds {
            if self.frozen_from.is_some() {
                bail!(
                    "--frozen-from does not go with --folds (each fold trains its own frozen phase)"
                );
            }
            let report = commands::transfer_folds(&cfg, k, out, &cache, &devices)?;
            print!("{}", report.markdown());
            return Ok(());
        }
        if let Some(feat_ext) = &self.frozen_from {
            if cfg.mode != TransferMode::Full {
                bail!("--frozen-from goes with --mode full");
            }
            commands::reuse_frozen_phase(feat_ext, out, &cfg)?;
        }
        commands::transfer(&cfg, out, &cache, &devices)?;
        Ok(())
    }
}

/// The name of the folder that holds a music set's CSV, the name a feature pack of one was
/// made with, or "music".
fn music_folder_name(music: &Path) -> String {
    if pack::is_pack(music)
        && let Ok(Corpus::Music { name, .. }) = pack::peek(music)
    {
        return name;
    }
    std::fs::canonicalize(music)
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "music".into())
}

#[derive(clap::Args, Debug)]
pub struct Evaluate {
    #[arg(long)]
    model: PathBuf,
    /// Music set: an annotation CSV, a DEAM, PMEmo or emoMusic folder, or a feature pack
    /// of one (`trainer pack --music`)
    #[arg(long)]
    music: PathBuf,
    /// train, val, test (the split written beside the model) or all
    #[arg(long, default_value = "test")]
    split: String,
    /// Midpoint of continuous ratings (default: the corpus's own, or 0 for a CSV)
    #[arg(long, value_parser = finite)]
    av_midpoint: Option<f64>,
    #[command(flatten)]
    scoring: Scoring,
}

impl Evaluate {
    pub fn run(self) -> Result<()> {
        let model = &self.model;
        let e = commands::evaluate(
            model,
            &self.music,
            &self.split,
            AvMapping {
                midpoint: midpoint(self.av_midpoint, &self.music)?,
            },
            &self.scoring.cache(model.parent().unwrap_or(Path::new("."))),
            &device(self.scoring.device)?,
        )?;
        self.scoring.print(&e)
    }
}

#[derive(clap::Args, Debug)]
pub struct Export {
    /// Transfer run folder
    #[arg(long)]
    run: PathBuf,
    #[arg(long, value_parser = values::precision())]
    precision: Precision,
    /// The model file to write
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    scoring: Scoring,
}

impl Export {
    pub fn run(self) -> Result<()> {
        let cache = self.scoring.cache(&self.run);
        let device = device(self.scoring.device)?;
        let e = commands::export(&self.run, self.precision, &self.out, &cache, &device)?;
        self.scoring.print(&e)
    }
}

#[derive(clap::Args, Debug)]
pub struct Baselines {
    /// Music set: an annotation CSV, a DEAM, PMEmo or emoMusic folder, or a feature pack
    /// of one (`trainer pack --music`)
    #[arg(long)]
    music: PathBuf,
    /// Midpoint of continuous ratings (default: the corpus's own, or 0 for a CSV)
    #[arg(long, value_parser = finite)]
    av_midpoint: Option<f64>,
    /// Print JSON (with each song's descriptors) instead of Markdown
    #[arg(long)]
    json: bool,
    /// Feature cache folder (default: feature-cache beside the CSV)
    #[arg(long)]
    cache: Option<PathBuf>,
}

impl Baselines {
    pub fn run(self) -> Result<()> {
        let music = &self.music;
        let cache = self
            .cache
            .unwrap_or_else(|| commands::default_cache(music.parent().unwrap_or(Path::new("."))));
        let mapping = AvMapping {
            midpoint: midpoint(self.av_midpoint, music)?,
        };
        let set = commands::load_music(music, mapping, &FeatureCache::new(&cache)?)?;
        let all: Vec<usize> = (0..set.songs.len()).collect();
        let b = baselines::baselines(&set, &all)?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&b)?);
        } else {
            print!("{}", b.markdown());
        }
        Ok(())
    }
}

#[derive(clap::Args, Debug)]
pub struct Reproduce {
    #[command(flatten)]
    options: ReproduceOptions,
    #[command(flatten)]
    devices: TrainDevices,
    #[arg(long)]
    out: PathBuf,
}

impl Reproduce {
    pub fn run(self) -> Result<()> {
        reproduce::reproduce(&self.options, &self.out, &self.devices.init()?)
    }
}

/// How `evaluate` and `export` score a model: on which device, with which feature cache,
/// and how the evaluation is printed.
#[derive(clap::Args, Debug, Clone)]
pub struct Scoring {
    /// Print the evaluation as JSON instead of Markdown
    #[arg(long)]
    json: bool,
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Feature cache (default: beside the model or run)
    #[arg(long)]
    cache: Option<PathBuf>,
}

impl Scoring {
    fn cache(&self, beside: &Path) -> PathBuf {
        self.cache
            .clone()
            .unwrap_or_else(|| commands::default_cache(beside))
    }

    fn print(&self, e: &Evaluation) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(e)?);
        } else {
            print!("{}", e.markdown());
        }
        Ok(())
    }
}
