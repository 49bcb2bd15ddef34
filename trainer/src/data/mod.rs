//! Corpora: speech folders, music sets, the on-disk feature cache, feature packs and the
//! song-level splits.

mod cache;
mod music;
pub mod pack;
mod speech;
mod splits;

pub use cache::{FeatureCache, progress_bar};
pub use music::{AvMapping, Song, default_midpoint, read_music, read_music_csv};
pub use pack::{FeaturePack, PackRef, is_pack};
pub use speech::{
    AUDIO_EXTENSIONS, SpeechDraw, SpeechSource, Utterance, draw_speech, duration_seconds,
    files_under, scan_audio,
};
pub use splits::{SplitFile, Splits, stratified_folds, stratified_split};
