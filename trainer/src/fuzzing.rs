//! What the music-set fuzz target (`fuzz/fuzz_targets/music_set.rs`) feeds arbitrary bytes
//! to, and `trainer/tests/fuzz_regressions.rs` replays: one definition, so a crash found by
//! fuzzing is reproduced by `cargo test`.

use std::path::Path;

use crate::data::{AvMapping, read_music};

/// Where byte 0 puts the rest: a music CSV, or the static or dynamic annotation file of a
/// DEAM, PMEmo or emoMusic folder (whose audio files are present but empty: reading a set
/// never decodes audio). `scratch` is an empty folder, reused between calls.
const PLACES: [&str; 6] = [
    "annotations.csv",
    "DEAM/static_annotations_averaged_songs_1_2000.csv",
    "PMEmo2019/annotations/static_annotations.csv",
    "PMEmo2019/annotations/dynamic_annotations.csv",
    "emoMusic/static_annotations.csv",
    "emoMusic/arousal_cont_average.csv",
];

/// Fixed companions of the fuzzed file, so that each layout is recognised.
const COMPANIONS: [(&str, &str); 5] = [
    (
        "PMEmo2019/annotations/static_annotations.csv",
        "musicId,Arousal(mean),Valence(mean)\n1,0.7,0.2\n2,0.3,0.6\n",
    ),
    (
        "emoMusic/static_annotations.csv",
        "song_id,mean_arousal,std_arousal,mean_valence,std_valence\n1,6,1,3,1\n",
    ),
    (
        "emoMusic/valence_cont_average.csv",
        "song_id,sample_15000ms,sample_15500ms\n1,0.1,0.2\n",
    ),
    ("DEAM/MEMD_audio/1.mp3", ""),
    ("PMEmo2019/chorus/1.mp3", ""),
];

pub fn music_set(data: &[u8], scratch: &Path) {
    let Some((&place, text)) = data.split_first() else {
        return;
    };
    let _ = std::fs::remove_dir_all(scratch);
    let write = |rel: &str, bytes: &[u8]| {
        let path = scratch.join(rel);
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("scratch folder");
        std::fs::write(path, bytes).expect("scratch file");
    };
    for (rel, bytes) in COMPANIONS {
        write(rel, bytes.as_bytes());
    }
    write("emoMusic/clips_45seconds/1.mp3", b"");
    write("song.wav", b"");
    let rel = PLACES[usize::from(place) % PLACES.len()];
    write(rel, text);
    let target = match rel.split_once('/') {
        Some((folder, _)) => scratch.join(folder),
        None => scratch.join(rel),
    };
    let _ = read_music(&target, AvMapping { midpoint: 0.0 });
}
