//! `trainer`: the native command line of the language-sensitive music emotion recognizer.

use trainer::{baselines, commands, corpus, data, io, output, reproduce, train};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mer::model_file::{Precision, TransferMode, Variant};
use mer::{FeatureExtractor, ModelFile, ModelMeta, SongPrediction};

#[derive(Parser, Debug)]
#[command(
    name = "trainer",
    version,
    about = "Language-sensitive music emotion recognition: features, prediction and model files",
    long_about = "Language-sensitive music emotion recognition (Gómez-Cañón et al., ICASSP 2021).\n\
                  Computes the paper's log-mel patches, runs compact classifier files on songs \
                  and shows what a model file holds."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
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
        #[arg(long, value_enum)]
        method: commands::PretrainMethod,
        /// Speech folder, as LANG=DIR (e.g. eng=/data/LibriSpeech) or DIR; repeat to mix
        /// corpora in equal hours
        #[arg(long, required = true)]
        speech: Vec<data::SpeechSource>,
        /// Hours of speech drawn at random (seeded); all when absent
        #[arg(long, value_parser = positive_hours)]
        hours: Option<f64>,
        #[arg(long, value_parser = positive, default_value_t = 100)]
        epochs: usize,
        /// Batch size (the original used 4 for the SCAE)
        #[arg(long, value_parser = positive, default_value_t = 32)]
        batch: usize,
        /// Patches (CPC: windows) drawn per epoch; all when absent
        #[arg(long, value_parser = positive)]
        epoch_patches: Option<usize>,
        /// CPC objective
        #[arg(long, value_enum, default_value_t = train::CpcObjective::Binary)]
        objective: train::CpcObjective,
        #[arg(long, default_value_t = 0)]
        seed: u64,
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
        /// Pretraining run folder
        #[arg(long)]
        encoder: PathBuf,
        /// Music set: an annotation CSV (Songs, Quads[, Arousal, Valence]; or continuous
        /// Arousal, Valence), or a DEAM, PMEmo or emoMusic folder as unpacked
        #[arg(long)]
        music: PathBuf,
        /// Name of the music set stored in the model (default: the CSV's folder name);
        /// `a+b` names a CSV that joins two sets
        #[arg(long)]
        music_name: Option<String>,
        /// With --mode full: a finished Feat. Ext. run of the same encoder, music and
        /// settings whose frozen phase this run starts from instead of training it again
        #[arg(long)]
        frozen_from: Option<PathBuf>,
        /// Midpoint of continuous arousal/valence ratings: above it is positive (default:
        /// the corpus's own scale midpoint for a DEAM, PMEmo or emoMusic folder, 0 for a
        /// CSV as CH-818's)
        #[arg(long, value_parser = finite)]
        av_midpoint: Option<f64>,
        #[arg(long, value_enum)]
        mode: ModeArg,
        /// Clip-level stratified k-fold cross-validation instead of the paper's split: one
        /// run per fold in OUT/fold-<i>, and OUT/folds.md with each metric's mean ± std
        #[arg(long, value_parser = positive)]
        folds: Option<usize>,
        #[arg(long, value_parser = positive, default_value_t = 100)]
        epochs: usize,
        #[arg(long, value_parser = positive, default_value_t = 64)]
        batch: usize,
        /// Patches drawn per epoch (both phases); all when absent
        #[arg(long, value_parser = positive)]
        epoch_patches: Option<usize>,
        /// Patches drawn per epoch of the Full phase (default: --epoch-patches)
        #[arg(long, value_parser = positive)]
        full_epoch_patches: Option<usize>,
        /// Epochs of the Full phase (default: --epochs)
        #[arg(long, value_parser = positive)]
        full_epochs: Option<usize>,
        /// Epochs without a better validation loss before a phase stops (the original: 50)
        #[arg(long, value_parser = positive)]
        patience: Option<usize>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Precision of the exported model file
        #[arg(long, value_enum, default_value_t = PrecisionArg::Int8)]
        precision: PrecisionArg,
        #[command(flatten)]
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
        /// English speech folder
        #[arg(long)]
        speech_en: PathBuf,
        /// Mandarin speech folder
        #[arg(long)]
        speech_man: PathBuf,
        /// English-lyrics music set: CSV (4Q-emotion's layout) or a corpus folder
        #[arg(long)]
        music_en: PathBuf,
        /// Mandarin-lyrics music set: CSV (CH-818's layout, or 4Q's) or a corpus folder
        #[arg(long)]
        music_man: PathBuf,
        /// Midpoint of continuous arousal/valence in --music-man (default: the corpus's
        /// own for a DEAM, PMEmo or emoMusic folder, 0 for a CSV)
        #[arg(long, value_parser = finite)]
        music_man_midpoint: Option<f64>,
        #[arg(long, value_parser = positive, default_value_t = 4)]
        repeats: usize,
        /// Hours of speech per pretraining (the paper: 3 or 30)
        #[arg(long, value_parser = positive_hours)]
        hours: Option<f64>,
        #[arg(long, value_parser = positive, default_value_t = 100)]
        pretrain_epochs: usize,
        #[arg(long, value_parser = positive, default_value_t = 100)]
        transfer_epochs: usize,
        #[arg(long, value_parser = positive, default_value_t = 32)]
        pretrain_batch: usize,
        #[arg(long, value_parser = positive, default_value_t = 64)]
        transfer_batch: usize,
        /// Patches (CPC: windows) drawn per pretraining epoch; all when absent
        #[arg(long, value_parser = positive)]
        epoch_patches: Option<usize>,
        /// Patches drawn per transfer epoch (default: --epoch-patches)
        #[arg(long, value_parser = positive)]
        transfer_epoch_patches: Option<usize>,
        #[arg(long, value_enum, default_value_t = train::CpcObjective::Binary)]
        objective: train::CpcObjective,
        /// Pretraining methods to run
        #[arg(long, value_enum, value_delimiter = ',', default_values_t = [commands::PretrainMethod::Dae, commands::PretrainMethod::Cpc])]
        methods: Vec<commands::PretrainMethod>,
        #[arg(long, value_enum, default_value_t = PrecisionArg::Int8)]
        precision: PrecisionArg,
        #[arg(long, default_value_t = 0)]
        seed: u64,
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
        #[arg(long, value_enum)]
        precision: PrecisionArg,
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
        #[arg(long, value_enum, default_value_t = PrecisionArg::Int8)]
        precision: PrecisionArg,
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

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DeviceArg {
    /// burn's flex CPU backend
    Cpu,
    /// burn-wgpu (Vulkan, Metal or DirectX natively; Mesa's lavapipe without a GPU)
    Wgpu,
    /// burn-cuda (NVIDIA GPUs; needs a build with `--features cuda`)
    Cuda,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ModeArg {
    /// Encoder frozen ("Feat. Ext.")
    FeatExt,
    /// Encoder fine-tuned after the frozen phase ("Full")
    Full,
}

impl From<ModeArg> for TransferMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::FeatExt => TransferMode::FeatExt,
            ModeArg::Full => TransferMode::Full,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum PrecisionArg {
    F32,
    F16,
    Int8,
    /// 4-bit weights in blocks of 128 with f16 scales, deflated
    Q4,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::Int8 => Precision::Int8,
            PrecisionArg::Q4 => Precision::Q4,
        }
    }
}

/// How `evaluate` and `export` score a model: on which device, with which feature cache,
/// and how the evaluation is printed.
#[derive(clap::Args, Debug, Clone)]
struct Scoring {
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

    fn print(&self, e: &trainer::evaluation::Evaluation) -> Result<()> {
        if self.json {
            println!("{}", serde_json::to_string_pretty(e)?);
        } else {
            print!("{}", e.markdown());
        }
        Ok(())
    }
}

/// Where the training commands train.
#[derive(clap::Args, Debug, Clone, Copy)]
struct TrainDevices {
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    device: DeviceArg,
    /// Number of devices for data-parallel training (batches split, gradients summed by
    /// burn's multi-device optimizer step): wgpu GPUs 0..N; with cpu, N copies of the CPU
    /// backend (only useful to test the data-parallel path)
    #[arg(long, default_value_t = 1)]
    devices: usize,
}

impl TrainDevices {
    /// `--devices` devices of the `--device` kind, for data-parallel training.
    fn init(self) -> Result<Vec<Device>> {
        match (self.device, self.devices) {
            (_, 0) => bail!("--devices must be at least 1"),
            (arg, 1) => Ok(vec![device(arg)?]),
            (DeviceArg::Cpu, n) => Ok(vec![Device::flex(); n]),
            (DeviceArg::Wgpu, n) => (0..n).map(wgpu_gpu).collect(),
            (DeviceArg::Cuda, n) => (0..n).map(cuda_device).collect(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_gpu(index: usize) -> Result<Device> {
    Device::wgpu_options()
        .device_kind(DeviceKind::DiscreteGpu(index))
        .init()
        .map_err(|e| anyhow::anyhow!("no wgpu GPU number {index}: {e:?}"))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_gpu(_index: usize) -> Result<Device> {
    wgpu_device()
}

fn device(arg: DeviceArg) -> Result<Device> {
    match arg {
        DeviceArg::Cpu => Ok(Device::flex()),
        DeviceArg::Wgpu => wgpu_device(),
        DeviceArg::Cuda => cuda_device(0),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device> {
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(_index: usize) -> Result<Device> {
    bail!(
        "this build has no CUDA support: build with `cargo build --release -p trainer --features cuda`"
    )
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Device::wgpu_options()
        .device_kind(DeviceKind::DefaultDevice)
        .init()
        .map_err(|e| anyhow::anyhow!("no wgpu adapter: {e:?}"))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    bail!("this build has no wgpu support (build with the `wgpu` feature)")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The whole error chain on one line.
fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Features { audio, out } => features(&audio, &out).map(|_| ExitCode::SUCCESS),
        Command::Predict {
            model,
            audio,
            format,
            device: dev,
            batch,
        } => predict(&model, &audio, format, dev, batch),
        Command::Inspect { model, json } => inspect(&model, json).map(|_| ExitCode::SUCCESS),
        Command::Pretrain {
            method,
            speech,
            hours,
            epochs,
            batch,
            epoch_patches,
            objective,
            seed,
            devices,
            cache,
            out,
        } => {
            let cfg = commands::PretrainConfig {
                method,
                objective,
                speech,
                hours,
                epochs,
                batch,
                epoch_patches,
                seed,
                schedule: commands::PretrainConfig::schedule(),
            };
            let cache = cache.unwrap_or_else(|| commands::default_cache(&out));
            commands::pretrain(&cfg, &out, &cache, &devices.init()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Transfer {
            encoder,
            music,
            music_name,
            frozen_from,
            av_midpoint,
            mode,
            folds,
            epochs,
            batch,
            epoch_patches,
            full_epoch_patches,
            full_epochs,
            patience,
            seed,
            precision,
            devices,
            cache,
            out,
        } => {
            let music_name = music_name.unwrap_or_else(|| {
                std::fs::canonicalize(&music)
                    .ok()
                    .and_then(|p| {
                        p.parent()
                            .and_then(|d| d.file_name())
                            .map(|n| n.to_string_lossy().into_owned())
                    })
                    .unwrap_or_else(|| "music".into())
            });
            let av_midpoint = midpoint(av_midpoint, &music)?;
            let cfg = commands::TransferConfig {
                encoder,
                music,
                music_name,
                av_midpoint,
                mode: mode.into(),
                epochs,
                batch,
                epoch_patches,
                full_epoch_patches,
                full_epochs,
                seed,
                precision: precision.into(),
                schedules: commands::TransferConfig::schedules_with_patience(patience),
                fold: None,
            };
            let devices = devices.init()?;
            let cache = cache.unwrap_or_else(|| commands::default_cache(&out));
            if let Some(k) = folds {
                if frozen_from.is_some() {
                    bail!(
                        "--frozen-from does not go with --folds (each fold trains its own frozen phase)"
                    );
                }
                let report = commands::transfer_folds(&cfg, k, &out, &cache, &devices)?;
                print!("{}", report.markdown());
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(feat_ext) = &frozen_from {
                if cfg.mode != TransferMode::Full {
                    bail!("--frozen-from goes with --mode full");
                }
                commands::reuse_frozen_phase(feat_ext, &out, &cfg)?;
            }
            commands::transfer(&cfg, &out, &cache, &devices)?;
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Reproduce {
            speech_en,
            speech_man,
            music_en,
            music_man,
            music_man_midpoint,
            repeats,
            hours,
            pretrain_epochs,
            transfer_epochs,
            pretrain_batch,
            transfer_batch,
            epoch_patches,
            transfer_epoch_patches,
            objective,
            methods,
            precision,
            seed,
            devices,
            out,
        } => {
            let o = reproduce::ReproduceOptions {
                speech_en,
                speech_man,
                music_en,
                music_man,
                music_man_midpoint,
                repeats,
                hours,
                pretrain_epochs,
                transfer_epochs,
                pretrain_batch,
                transfer_batch,
                epoch_patches,
                transfer_epoch_patches: transfer_epoch_patches.or(epoch_patches),
                objective,
                methods,
                precision: precision.into(),
                seed,
            };
            reproduce::reproduce(&o, &out, &devices.init()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Baselines {
            music,
            av_midpoint,
            json,
            cache,
        } => {
            let cache = cache.unwrap_or_else(|| {
                commands::default_cache(music.parent().unwrap_or(Path::new(".")))
            });
            let set = commands::load_music(
                &music,
                data::AvMapping {
                    midpoint: midpoint(av_midpoint, &music)?,
                },
                &data::FeatureCache::new(&cache)?,
            )?;
            let all: Vec<usize> = (0..set.songs.len()).collect();
            let b = baselines::baselines(&set, &all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&b)?);
            } else {
                print!("{}", b.markdown());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Index { dir, default } => {
            index(&dir, default.as_deref()).map(|_| ExitCode::SUCCESS)
        }
        Command::Corpus { what } => corpus::run(what).map(|_| ExitCode::SUCCESS),
        Command::Export {
            run,
            precision,
            out,
            scoring,
        } => {
            let cache = scoring.cache(&run);
            let e = commands::export(
                &run,
                precision.into(),
                &out,
                &cache,
                &device(scoring.device)?,
            )?;
            scoring.print(&e)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Init {
            out,
            precision,
            seed,
            variant,
            claimed_f1,
        } => init(&out, precision.into(), seed, variant, claimed_f1).map(|_| ExitCode::SUCCESS),
    }
}

fn spinner(msg: String) -> ProgressBar {
    let pb = ProgressBar::new_spinner().with_message(msg);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

fn features(audio: &Path, out: &Path) -> Result<()> {
    let fx = FeatureExtractor::default();
    let pb = spinner(format!("log-mel patches of {}", audio.display()));
    let samples =
        io::load_samples(audio, fx.recipe()).with_context(|| format!("{}", audio.display()))?;
    let patches = fx.patches(&samples);
    pb.finish_and_clear();
    if patches.n == 0 {
        eprintln!(
            "warning: {}: {:.2} s of audio is shorter than one patch ({:.2} s); writing 0 patches",
            audio.display(),
            samples.len() as f64 / f64::from(fx.recipe().sample_rate),
            fx.recipe().min_samples() as f64 / f64::from(fx.recipe().sample_rate),
        );
    }
    io::write_npy(out, &patches).with_context(|| format!("{}", out.display()))?;
    eprintln!(
        "{}: {} patches of shape (1, {}, {}) -> {}",
        audio.display(),
        patches.n,
        patches.n_mels,
        patches.frames,
        out.display()
    );
    Ok(())
}

fn predict(
    model_path: &Path,
    audio: &[PathBuf],
    format: Format,
    dev: DeviceArg,
    batch: usize,
) -> Result<ExitCode> {
    let file = io::load_model(model_path)?;
    let device = device(dev)?;
    let classifier = mer::inference::load_classifier(&file, &device)
        .with_context(|| format!("{}", model_path.display()))?;
    let fx = FeatureExtractor::new(file.meta.recipe.clone())?;
    let mut failures = 0usize;
    let mut results = Vec::new();
    let pb = ProgressBar::new(audio.len() as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg} (ETA {eta})",
        )
        .expect("valid template"),
    );
    // No panic may end the batch: one in a file's work is that file's error (its message
    // kept, the default hook's backtrace note silenced while the files run).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for path in audio {
        pb.set_message(path.display().to_string());
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            predict_one(&classifier, &fx, &device, path, batch)
        }))
        .unwrap_or_else(|payload| {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            Err(anyhow::anyhow!("internal error while predicting: {what}"))
        });
        match outcome {
            Ok(p) => {
                if format == Format::Table {
                    pb.suspend(|| output::print_table(path, &file.meta, &p));
                }
                results.push((path.clone(), p));
            }
            Err(e) => {
                failures += 1;
                pb.suspend(|| eprintln!("error: {}: {}", path.display(), one_line(&e)));
            }
        }
        pb.inc(1);
    }
    std::panic::set_hook(hook);
    pb.finish_and_clear();
    match format {
        Format::Table => {}
        Format::Json => println!("{}", output::json(&file.meta, &results)),
        Format::Csv => print!("{}", output::csv(&results)),
    }
    if failures > 0 {
        eprintln!("{failures} of {} files failed", audio.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn predict_one(
    classifier: &mer::model::Classifier,
    fx: &FeatureExtractor,
    device: &Device,
    path: &Path,
    batch: usize,
) -> Result<SongPrediction> {
    let samples = io::load_samples(path, fx.recipe())?;
    let patches = fx.patches(&samples);
    let rate = f64::from(fx.recipe().sample_rate);
    if patches.n == 0 {
        bail!(
            "too short: {:.2} s of audio, one patch needs {:.2} s",
            samples.len() as f64 / rate,
            fx.recipe().min_samples() as f64 / rate
        );
    }
    let probs = pollster::block_on(mer::inference::predict_patches(
        classifier,
        &patches,
        device,
        batch,
        |_, _| {},
    ))?;
    SongPrediction::from_patches(fx.recipe(), &probs).context("no patches")
}

fn inspect(path: &Path, json: bool) -> Result<()> {
    let file = io::load_model(path)?;
    let size = std::fs::metadata(path)?.len();
    if json {
        println!("{}", serde_json::to_string_pretty(&file.meta)?);
    } else {
        output::print_meta(path, size, &file);
    }
    Ok(())
}

/// A count that must be at least 1 (epochs, batch sizes, patches, patience, repeats).
/// The given midpoint of continuous ratings, or the music set's own.
fn midpoint(given: Option<f64>, music: &Path) -> Result<f64> {
    given.map_or_else(|| data::default_midpoint(music), Ok)
}

fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A finite number (NaN and infinities are refused).
fn finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(x) => Err(format!("{x} is not a finite number")),
        Err(e) => Err(e.to_string()),
    }
}

/// Hours of speech: finite and above 0.
fn positive_hours(s: &str) -> Result<f64, String> {
    match finite(s)? {
        x if x > 0.0 => Ok(x),
        x => Err(format!("{x}: must be above 0")),
    }
}

fn index(dir: &Path, default: Option<&str>) -> Result<()> {
    if !dir.is_dir() {
        bail!("{}: not a folder", dir.display());
    }
    let out = dir.join("index.json");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "mer"))
        .collect();
    paths.sort();
    let mut entries = Vec::new();
    for path in &paths {
        let file = io::load_model(path)?;
        let bytes = std::fs::read(path)?;
        entries.push(serde_json::json!({
            "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "title": file.meta.variant.title(),
            "size": bytes.len(),
            "meta": file.meta,
        }));
    }
    let listed = |f: &str| entries.iter().any(|e| e["file"] == f);
    let default = match default {
        Some(f) if listed(f) => Some(f.to_string()),
        Some(f) => bail!(
            "--default {f}: no such model file in {} (give a file name listed there)",
            dir.display()
        ),
        // Keep the previous index's choice while its file is still listed.
        None => std::fs::read(&out)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["default"].as_str().map(str::to_string))
            .filter(|f| listed(f)),
    };
    let mut index = serde_json::json!({ "models": entries });
    if let Some(f) = &default {
        index["default"] = serde_json::json!(f);
    }
    let json = serde_json::to_string_pretty(&index)?;
    io::write_atomic(&out, json.as_bytes()).with_context(|| format!("{}", out.display()))?;
    eprintln!(
        "{} models -> {}{}",
        entries.len(),
        out.display(),
        default.map_or(String::new(), |f| format!(" (default {f})"))
    );
    // The same list as a Markdown table on stdout, for a README.
    println!(
        "| file | model | size | test songs | F1 weighted, patches: Q / A / V | F1 weighted, songs: Q / A / V |\n|---|---|---|---|---|---|"
    );
    for e in &entries {
        let test = &e["meta"]["metrics"]["test"];
        let f = |level: &str, task: &str| {
            test[level][task]["f1_weighted"]
                .as_f64()
                .map_or("-".to_string(), |v| format!("{v:.3}"))
        };
        let level = |l: &str| {
            format!(
                "{} / {} / {}",
                f(l, "quadrant"),
                f(l, "arousal"),
                f(l, "valence")
            )
        };
        println!(
            "| {} | {} | {:.2} MB | {} | {} | {} |",
            e["file"].as_str().unwrap_or_default(),
            e["title"].as_str().unwrap_or_default(),
            e["size"].as_f64().unwrap_or(0.0) / 1e6,
            test["songs"],
            level("patch"),
            level("song"),
        );
    }
    Ok(())
}

fn init(
    out: &Path,
    precision: Precision,
    seed: u64,
    variant: Option<Variant>,
    claimed_f1: Option<f64>,
) -> Result<()> {
    let device = Device::flex();
    device.seed(seed);
    let classifier = mer::model::Classifier::new(&device);
    let weights = mer::inference::encode_weights(&classifier, precision)?;
    let mut meta = ModelMeta {
        training: serde_json::json!({"untrained": true, "seed": seed}),
        ..ModelMeta::new(
            variant.unwrap_or_else(Variant::untrained),
            precision,
            format!("trainer {}", env!("CARGO_PKG_VERSION")),
        )
    };
    if let Some(q) = claimed_f1 {
        // Plausible-looking scores around the claimed one, for pickers and comparisons.
        let r = |x: f64| (x.clamp(0.0, 1.0) * 100.0).round() / 100.0;
        let level = |x: f64| {
            serde_json::json!({
                "quadrant": {"f1_weighted": r(x), "f1_macro": r(x - 0.01), "accuracy": r(x + 0.02)},
                "arousal": {"f1_weighted": r(x + 0.12), "f1_macro": r(x + 0.11), "accuracy": r(x + 0.13)},
                "valence": {"f1_weighted": r(x + 0.24), "f1_macro": r(x + 0.23), "accuracy": r(x + 0.25)},
            })
        };
        meta.metrics = serde_json::json!({"test": {
            "songs": 270, "patches": 16740, "patch": level(q), "song": level(q + 0.04),
        }});
        meta.training["claimed_scores"] = serde_json::json!(true);
    }
    let file = ModelFile { meta, weights };
    io::write_atomic(out, &file.to_bytes()).with_context(|| format!("{}", out.display()))?;
    eprintln!("untrained classifier -> {}", out.display());
    Ok(())
}

/// `--variant METHOD:LANGS:MODE` of `trainer init` (names as in the model file's metadata).
fn claimed_variant(s: &str) -> Result<Variant, String> {
    let [method, langs, mode] = s.split(':').collect::<Vec<_>>()[..] else {
        return Err("expected METHOD:LANGS:MODE, e.g. scae:man:full".into());
    };
    let method = serde_json::from_value(serde_json::json!(method))
        .map_err(|_| format!("unknown method {method:?} (scae, cpc)"))?;
    let mode = serde_json::from_value(serde_json::json!(mode))
        .map_err(|_| format!("unknown transfer mode {mode:?} (feat-ext, full)"))?;
    let pretrain_languages: Vec<String> = langs.split('+').map(str::to_string).collect();
    if pretrain_languages.iter().any(|l| l.is_empty()) {
        return Err(format!("bad languages {langs:?} (e.g. eng, man, eng+man)"));
    }
    Ok(Variant {
        method,
        pretrain_languages,
        mode,
        music: vec!["4Q-emotion".into()],
    })
}

/// A value in [0, 1].
fn unit_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}
