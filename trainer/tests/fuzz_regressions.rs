//! Every music-set input kept from fuzzing (`tests/fuzz-regressions/music_set/`, see
//! `scripts/fuzz.sh`), replayed through the function the fuzz target calls, with a few
//! hand-made hostile files of each layout. Each must return, not panic.

use std::path::Path;

#[test]
fn music_set_inputs_kept_from_fuzzing() {
    let scratch = tempfile::tempdir().unwrap();
    let set = scratch.path().join("set");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz-regressions/music_set");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        println!("{}", f.display());
        trainer::fuzzing::music_set(&std::fs::read(&f).unwrap(), &set);
    }
    let hostile: &[&[u8]] = &[
        b"",
        b"\x00",
        b"\x00Songs\n\xff\xfe,Q9\n",
        b"\x00Songs,Arousal,Valence\nsong.wav,NaN,inf\nsong.wav,1e309,-1e309\n../../etc/passwd,1,1\n",
        b"\x01song_id\n",
        b"\x01song_id, valence_mean, arousal_mean\n99999999999999999999, 1, 1\n-0, 5, 5\n1.5, 5, 5\n",
        b"\x02musicId,Arousal(mean),Valence(mean)\n\"1\n",
        b"\x03musicId,frameTime,Arousal(mean),Valence(mean)\n1,1e300,0,0\n1,-5,0,0\n1,NaN,0,0\n",
        b"\x05song_id,sample_99999999999999999999ms,sample_-1ms,sample_ms\n1,1,2,3\n",
    ];
    for input in hostile {
        trainer::fuzzing::music_set(input, &set);
    }
}
