//! The command line: its flags (parsed straight into the commands' configurations where
//! they have one) and the dispatch of each subcommand.

pub mod devices;
mod tools;
mod training;
pub mod values;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::corpus;

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
    Predict(tools::Predict),
    /// Show a model file's metadata
    Inspect {
        /// Model file (.mer)
        model: PathBuf,
        /// Print the metadata as JSON
        #[arg(long)]
        json: bool,
    },
    /// Compute a speech folder's or a music set's features once into a feature pack: one
    /// checksummed file of f16 log-mel frames (and, for music, the labels) that `pretrain
    /// --speech`, `transfer --music`, `evaluate --music` and `baselines --music` take in
    /// place of the folder or CSV, so that a run needs no audio
    Pack(training::Pack),
    /// Pretrain an encoder on speech without labels (DAE = the paper's SCAE, or CPC)
    Pretrain(training::Pretrain),
    /// Transfer a pretrained encoder to the multi-task music emotion classifier
    Transfer(training::Transfer),
    /// Score a model file on a music set: precision, recall and F (weighted and macro) for
    /// quadrant, arousal and valence, over patches and songs, with confusion matrices
    Evaluate(training::Evaluate),
    /// One-feature baselines on a music set: the best constant quadrant, and the song-level
    /// arousal and valence AUC of loudness, spectral centroid and onset rate, each alone
    Baselines(training::Baselines),
    /// Run the paper's grid (SCAE and CPC x Feat. Ext. and Full x pretrained on eng, man,
    /// mix x tested on both music sets), resumable cell by cell, and write a
    /// Table-2-style report (REPORT.md, results.csv, plots/)
    Reproduce(training::Reproduce),
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
    Export(training::Export),
    /// Write an untrained classifier (random weights) as a model file, for testing the
    /// pipeline and measuring the file format
    Init(tools::Init),
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
        Command::Predict(p) => return p.run(),
        Command::Inspect { model, json } => tools::inspect(&model, json)?,
        Command::Pack(p) => p.run()?,
        Command::Pretrain(p) => p.run()?,
        Command::Transfer(t) => t.run()?,
        Command::Evaluate(e) => e.run()?,
        Command::Baselines(b) => b.run()?,
        Command::Reproduce(r) => r.run()?,
        Command::Index { dir, default } => tools::index(&dir, default.as_deref())?,
        Command::Corpus { what } => corpus::run(what)?,
        Command::Export(e) => e.run()?,
        Command::Init(i) => i.run()?,
    }
    Ok(ExitCode::SUCCESS)
}
