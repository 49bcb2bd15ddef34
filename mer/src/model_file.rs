//! The compact model file: one trained classifier with everything a loader needs.
//!
//! Layout (all integers little-endian):
//! ```text
//! b"MERMODEL"              8 bytes  magic
//! format_version           u32
//! header_len               u32
//! header                   header_len bytes of JSON (ModelMeta)
//! weights_len              u64
//! weights                  weights_len bytes: a burnpack of the classifier (burn-store)
//! sha256                   32 bytes over everything above
//! ```
//! The weights are burn's own burnpack format, written by `burn::store::BurnpackStore`
//! (half precision, or int8 for the large layers; see [`Precision`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{FeatureRecipe, MerError};

pub const MAGIC: &[u8; 8] = b"MERMODEL";
/// Bumped whenever the layout, the metadata schema or the network definition changes.
pub const FORMAT_VERSION: u32 = 1;

/// Pretraining method of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Sparse convolutional denoising autoencoder ("SCAE", "DAE").
    Scae,
    /// Contrastive Predictive Coding.
    Cpc,
    /// No pretraining (random encoder), for baselines.
    None,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Method::Scae => "SCAE",
            Method::Cpc => "CPC",
            Method::None => "none",
        }
    }
}

/// How the pretrained encoder was transferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransferMode {
    /// Encoder frozen, heads trained ("Feat. Ext.").
    FeatExt,
    /// Encoder released and fine-tuned after the frozen phase ("Full").
    Full,
}

impl TransferMode {
    pub fn label(self) -> &'static str {
        match self {
            TransferMode::FeatExt => "Feat. Ext.",
            TransferMode::Full => "Full",
        }
    }
}

/// Which classifier this is: method x pretraining speech x transfer mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub method: Method,
    /// Language code(s) of the pretraining speech, e.g. ["eng"], ["man"], ["eng", "man"].
    pub pretrain_languages: Vec<String>,
    pub mode: TransferMode,
    /// Name(s) of the music set(s) the classifier was trained on.
    pub music: Vec<String>,
}

impl Variant {
    /// No pretraining and no music: an untrained classifier (random weights), for tests.
    pub fn untrained() -> Self {
        Self {
            method: Method::None,
            pretrain_languages: vec![],
            mode: TransferMode::FeatExt,
            music: vec![],
        }
    }

    /// "eng", "man", or "mix" for several languages.
    pub fn language_label(&self) -> String {
        match self.pretrain_languages.as_slice() {
            [] => "none".into(),
            [one] => one.clone(),
            _ => "mix".into(),
        }
    }

    /// E.g. "SCAE-Full (eng)".
    pub fn title(&self) -> String {
        format!(
            "{}-{} ({})",
            self.method.label(),
            self.mode.label(),
            self.language_label()
        )
    }
}

/// How the weights are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
    /// int8, symmetric per tensor, on conv and dense weights; the rest in f16.
    Int8,
    /// 4-bit, symmetric per block of 128 values with an f16 scale, on conv and dense
    /// weights; the rest in f32; deflated (see [`crate::packed`]).
    Q4,
}

/// Names of each head's classes, in output order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    pub quadrant: Vec<String>,
    pub arousal: Vec<String>,
    pub valence: Vec<String>,
}

impl Default for Labels {
    fn default() -> Self {
        let pm = || crate::Quadrant::SIGN_NAMES.map(String::from).to_vec();
        Self {
            quadrant: crate::Quadrant::NAMES.map(String::from).to_vec(),
            arousal: pm(),
            valence: pm(),
        }
    }
}

/// Everything about a classifier except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// Name of the network definition the weights fit ("classifier").
    pub architecture: String,
    pub variant: Variant,
    pub recipe: FeatureRecipe,
    pub labels: Labels,
    pub precision: Precision,
    /// Free-form scores, e.g. {"test": {"quadrant_f1_weighted": 0.51, ...}}.
    #[serde(default)]
    pub metrics: serde_json::Value,
    /// Free-form training details (epochs, seeds, corpora, the command).
    #[serde(default)]
    pub training: serde_json::Value,
    /// Version of the software that wrote the file.
    pub writer: String,
}

impl ModelMeta {
    /// The metadata of a classifier of this build's architecture, feature recipe and labels,
    /// without scores or training details (set `metrics` / `training` after).
    pub fn new(variant: Variant, precision: Precision, writer: impl Into<String>) -> Self {
        Self {
            architecture: crate::model::ARCHITECTURE.into(),
            variant,
            recipe: FeatureRecipe::default(),
            labels: Labels::default(),
            precision,
            metrics: serde_json::Value::Null,
            training: serde_json::Value::Null,
            writer: writer.into(),
        }
    }

    /// Refuses a model this build cannot run: another feature recipe or another network.
    pub fn check_compatible(&self) -> Result<(), MerError> {
        if self.recipe != FeatureRecipe::default() {
            return Err(MerError::ModelFile(format!(
                "the model was trained on another feature recipe ({:?}) than this build computes",
                self.recipe
            )));
        }
        if self.architecture != crate::model::ARCHITECTURE {
            return Err(MerError::ModelFile(format!(
                "unknown architecture {:?} (expected {:?})",
                self.architecture,
                crate::model::ARCHITECTURE
            )));
        }
        Ok(())
    }
}

/// A parsed model file: metadata plus the weights as a burnpack.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub meta: ModelMeta,
    pub weights: Vec<u8>,
}

impl ModelFile {
    /// Serialises to the file layout above.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.meta).expect("metadata serialises");
        let mut out = Vec::with_capacity(8 + 4 + 4 + header.len() + 8 + self.weights.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&(self.weights.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.weights);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    /// Parses and checks a model file: magic, format version, lengths, checksum, and that
    /// its feature recipe is the one this build computes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MerError> {
        let bad = |msg: String| MerError::ModelFile(msg);
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(bad("not a mer model file (wrong magic bytes)".into()));
        }
        if bytes.len() < 16 {
            return Err(bad("truncated model file".into()));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "model file format version {version}, this build reads version {FORMAT_VERSION}"
            )));
        }
        let header_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
        let weights_at = 16usize.saturating_add(header_len);
        let truncated = || bad("truncated model file".into());
        if bytes.len() < weights_at.saturating_add(8) {
            return Err(truncated());
        }
        let weights_len = u64::from_le_bytes(
            bytes[weights_at..weights_at + 8]
                .try_into()
                .expect("8 bytes"),
        );
        let weights_start = weights_at + 8;
        let weights_end = usize::try_from(weights_len)
            .ok()
            .and_then(|n| weights_start.checked_add(n))
            .ok_or_else(truncated)?;
        let total = weights_end.checked_add(32).ok_or_else(truncated)?;
        if bytes.len() < total {
            return Err(truncated());
        }
        if bytes.len() > total {
            return Err(bad(format!(
                "{} unexpected bytes after the end of the model file",
                bytes.len() - total
            )));
        }
        let digest = Sha256::digest(&bytes[..weights_end]);
        if digest.as_slice() != &bytes[weights_end..total] {
            return Err(bad("corrupted model file (checksum mismatch)".into()));
        }
        let meta: ModelMeta = serde_json::from_slice(&bytes[16..weights_at])
            .map_err(|e| bad(format!("unreadable model metadata: {e}")))?;
        meta.check_compatible()?;
        Ok(Self {
            meta,
            weights: bytes[weights_start..weights_end].to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelFile {
        ModelFile {
            meta: ModelMeta {
                metrics: serde_json::json!({"test": {"quadrant_f1": 0.5}}),
                ..ModelMeta::new(
                    Variant {
                        method: Method::Scae,
                        pretrain_languages: vec!["eng".into(), "man".into()],
                        mode: TransferMode::Full,
                        music: vec!["western".into()],
                    },
                    Precision::F16,
                    "test",
                )
            },
            weights: (0..=255u8).cycle().take(5000).collect(),
        }
    }

    #[test]
    fn round_trip() {
        let file = sample();
        let bytes = file.to_bytes();
        let back = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(back.meta, file.meta);
        assert_eq!(back.weights, file.weights);
        assert_eq!(back.meta.variant.title(), "SCAE-Full (mix)");
    }

    fn err(bytes: &[u8]) -> String {
        ModelFile::from_bytes(bytes).unwrap_err().to_string()
    }

    #[test]
    fn refuses_damaged_files() {
        let bytes = sample().to_bytes();
        assert!(err(b"hello world, not a model").contains("not a mer model file"));
        assert!(err(&[]).contains("not a mer model file"));
        for cut in [10, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(err(&bytes[..cut]).contains("truncated"), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        let mid = bytes.len() - 100;
        flipped[mid] ^= 0x40;
        assert!(err(&flipped).contains("checksum"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(err(&longer).contains("unexpected bytes"));
    }

    #[test]
    fn refuses_other_versions_and_recipes() {
        let mut bytes = sample().to_bytes();
        bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
        assert!(err(&bytes).contains("format version 99"));

        let mut other = sample();
        other.meta.recipe.hop_length = 256;
        assert!(err(&other.to_bytes()).contains("another feature recipe"));
    }
}
