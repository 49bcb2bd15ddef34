//! The values of the command line: the value parsers of counts, hours and midpoints, the
//! choices of output format, transfer mode and precision, and `init --variant`.

use std::path::Path;

use anyhow::Result;
use clap::ValueEnum;
use clap::builder::{EnumValueParser, TypedValueParser};
use mer::model_file::{Precision, TransferMode, Variant};

use crate::data;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
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
pub enum PrecisionArg {
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

/// `--mode`: a [`ModeArg`] parsed straight into mer's [`TransferMode`].
pub fn transfer_mode() -> impl TypedValueParser<Value = TransferMode> {
    EnumValueParser::<ModeArg>::new().map(TransferMode::from)
}

/// `--precision`: a [`PrecisionArg`] parsed straight into mer's [`Precision`].
pub fn precision() -> impl TypedValueParser<Value = Precision> {
    EnumValueParser::<PrecisionArg>::new().map(Precision::from)
}

/// The given midpoint of continuous ratings, or the music set's own.
pub fn midpoint(given: Option<f64>, music: &Path) -> Result<f64> {
    given.map_or_else(|| data::default_midpoint(music), Ok)
}

/// A count that must be at least 1 (epochs, batch sizes, patches, patience, repeats).
pub fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A finite number (NaN and infinities are refused).
pub fn finite(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(x) => Err(format!("{x} is not a finite number")),
        Err(e) => Err(e.to_string()),
    }
}

/// Hours of speech: finite and above 0.
pub fn positive_hours(s: &str) -> Result<f64, String> {
    match finite(s)? {
        x if x > 0.0 => Ok(x),
        x => Err(format!("{x}: must be above 0")),
    }
}

/// `--variant METHOD:LANGS:MODE` of `trainer init` (names as in the model file's metadata).
pub fn claimed_variant(s: &str) -> Result<Variant, String> {
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
pub fn unit_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a number from 0 to 1")),
    }
}
