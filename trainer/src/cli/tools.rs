//! The small commands: `features`, `predict`, `inspect`, `index` and `init`. (Their
//! descriptions in the help are the doc comments of [`super::Command`]'s variants.)

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use mer::model_file::{Precision, Variant};
use mer::{FeatureExtractor, ModelFile, ModelMeta, Patches, SongPrediction};

use super::devices::{DeviceArg, device};
use super::one_line;
use super::values::{self, Format, claimed_variant, positive, unit_interval};
use crate::io::{self, load_model};
use crate::output;

fn spinner(msg: String) -> ProgressBar {
    let pb = ProgressBar::new_spinner().with_message(msg);
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

#[derive(clap::Args, Debug)]
pub struct Predict {
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
}

impl Predict {
    pub fn run(self) -> Result<ExitCode> {
        predict(
            &self.model,
            &self.audio,
            self.format,
            self.device,
            self.batch,
        )
    }
}

#[derive(clap::Args, Debug)]
pub struct Init {
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
}

impl Init {
    pub fn run(self) -> Result<()> {
        init(
            &self.out,
            self.precision,
            self.seed,
            self.variant,
            self.claimed_f1,
        )
    }
}

pub fn features(audio: &Path, out: &Path) -> Result<()> {
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
    let file = load_model(model_path)?;
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
    // The front end (decoding, resampling, log-mel) of the next file runs on a thread of
    // its own while the classifier works on this one: both cores stay busy, and at most
    // one file waits between the two (bounded memory), in the order given.
    std::thread::scope(|scope| {
        let (ready, patches) = std::sync::mpsc::sync_channel(1);
        let fx = &fx;
        scope.spawn(move || {
            for path in audio {
                if ready.send(caught(|| front_end(fx, path))).is_err() {
                    break;
                }
            }
        });
        for (path, patches) in audio.iter().zip(patches) {
            pb.set_message(path.display().to_string());
            let outcome =
                patches.and_then(|p| caught(|| classify(&classifier, fx, &device, &p, batch)));
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
    });
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

/// `f`'s result, a panic inside it turned into an error that keeps its message.
fn caught<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Err(anyhow::anyhow!("internal error while predicting: {what}"))
    })
}

/// A file's log-mel patches; too short a file is an error.
fn front_end(fx: &FeatureExtractor, path: &Path) -> Result<Patches> {
    let samples = io::load_samples(path, fx.recipe())?;
    fx.recipe().check_long_enough(samples.len())?;
    let patches = fx.patches(&samples);
    Ok(patches)
}

fn classify(
    classifier: &mer::model::Classifier,
    fx: &FeatureExtractor,
    device: &Device,
    patches: &Patches,
    batch: usize,
) -> Result<SongPrediction> {
    let probs = pollster::block_on(mer::inference::predict_patches(
        classifier,
        patches,
        device,
        batch,
        |_, _| {},
    ))?;
    SongPrediction::from_patches(fx.recipe(), &probs).context("no patches")
}

pub fn inspect(path: &Path, json: bool) -> Result<()> {
    let file = load_model(path)?;
    let size = std::fs::metadata(path)?.len();
    if json {
        println!("{}", serde_json::to_string_pretty(&file.meta)?);
    } else {
        output::print_meta(path, size, &file);
    }
    Ok(())
}

pub fn index(dir: &Path, default: Option<&str>) -> Result<()> {
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
        let file = load_model(path)?;
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
