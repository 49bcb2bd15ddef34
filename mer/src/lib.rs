//! Language-sensitive music emotion recognition (Gómez-Cañón et al., ICASSP 2021).
//!
//! One definition of the feature recipe ([`features`]), of each network ([`model`]), of the
//! compact model file ([`model_file`]) and of song-level predictions ([`predict`]), shared
//! by the native `trainer` and the web page. Compiles to wasm32: no file system, no threads,
//! no blocking GPU reads in the code paths the page uses.

pub mod alloc;
pub mod audio;
pub mod features;
#[doc(hidden)]
pub mod fuzzing;
pub mod inference;
pub mod model;
pub mod model_file;
pub mod ops;
#[cfg(feature = "train")]
pub mod optim;
pub mod packed;
pub mod predict;

pub use features::{FeatureExtractor, FeatureRecipe, LogMel, Patches};
pub use model_file::{ModelFile, ModelMeta};
pub use predict::{PatchProbabilities, Quadrant, SegmentPrediction, SongPrediction};

/// Everything that can go wrong in this crate, each with a message fit for one line.
#[derive(Debug, thiserror::Error)]
pub enum MerError {
    #[error("{0}")]
    Audio(String),
    #[error("{0}")]
    Recipe(String),
    #[error("{0}")]
    ModelFile(String),
    #[error("{0}")]
    Inference(String),
}
