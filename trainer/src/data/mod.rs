//! Corpora: speech folders, music sets, the on-disk feature cache and the song-level
//! splits.

mod cache;
mod music;
mod speech;
mod splits;

pub use cache::{FeatureCache, progress_bar};
pub use music::{AvMapping, Song, default_midpoint, read_music, read_music_csv};
pub use speech::{
    AUDIO_EXTENSIONS, SpeechSource, draw_speech, duration_seconds, files_under, scan_audio,
};
pub use splits::{SplitFile, Splits, stratified_folds, stratified_split};
