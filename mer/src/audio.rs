//! Audio in: channels -> mono -> 16 kHz -> peak-normalised samples.
//!
//! Everything here works on samples already in memory, so it runs unchanged in the browser
//! (where Web Audio decodes the file) and natively (where [`decode`] does, behind the
//! `decode` feature).

use rubato::{FftFixedIn, Resampler};

use crate::MerError;

/// Sample rates accepted from a file or a caller. A header may claim any rate up to 2^32,
/// and the resampler's FFT sizes follow the rate divided by its common divisor with the
/// target: a prime rate near 2^31 would ask for gigabytes. Real audio lies well inside.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 1_000..=768_000;
/// The most channels accepted (7.1 is 8; ambisonic and multitrack files go to 64).
pub const MAX_CHANNELS: usize = 64;

/// Refuses a sample rate outside [`SAMPLE_RATES`] with one clear line.
pub fn check_rate(rate: u32) -> Result<(), MerError> {
    if SAMPLE_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(MerError::Audio(format!(
            "a sample rate of {rate} Hz is out of range ({} to {} Hz)",
            SAMPLE_RATES.start(),
            SAMPLE_RATES.end()
        )))
    }
}

/// Refuses more than [`MAX_CHANNELS`] channels with one clear line.
pub fn check_channels(n: usize) -> Result<(), MerError> {
    if n <= MAX_CHANNELS {
        Ok(())
    } else {
        Err(MerError::Audio(format!(
            "{n} channels: more than the {MAX_CHANNELS} accepted"
        )))
    }
}

/// Decoded audio: one `Vec` per channel, all of the same length.
#[derive(Debug, Clone)]
pub struct Audio {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// Number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Mean of the channels (librosa's `to_mono`).
pub fn to_mono(channels: &[Vec<f32>]) -> Vec<f32> {
    match channels {
        [] => Vec::new(),
        [one] => one.clone(),
        many => {
            let n = many[0].len();
            let scale = 1.0 / many.len() as f32;
            (0..n)
                .map(|i| many.iter().map(|c| c[i]).sum::<f32>() * scale)
                .collect()
        }
    }
}

/// Resamples mono audio with rubato's synchronous FFT resampler (band-limited, anti-aliased).
/// The output has `ceil(len * to / from)` samples and is aligned with the input (the
/// resampler's delay is removed).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, MerError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    check_rate(from)?;
    check_rate(to)?;
    let expected = (samples.len() as u64 * u64::from(to)).div_ceil(u64::from(from)) as usize;
    let chunk = 4096;
    let mut resampler = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 2, 1)
        .map_err(|e| MerError::Audio(format!("cannot resample {from} Hz -> {to} Hz: {e}")))?;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + chunk);
    let mut pos = 0;
    let err = |e: rubato::ResampleError| MerError::Audio(format!("resampling failed: {e}"));
    while pos < samples.len() {
        let need = resampler.input_frames_next();
        let end = (pos + need).min(samples.len());
        let block = if end - pos == need {
            resampler
                .process(&[&samples[pos..end]], None)
                .map_err(err)?
        } else {
            resampler
                .process_partial(Some(&[&samples[pos..end]]), None)
                .map_err(err)?
        };
        out.extend_from_slice(&block[0]);
        pos = end;
    }
    while out.len() < expected + delay {
        let block = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(err)?;
        out.extend_from_slice(&block[0]);
    }
    out.drain(..delay);
    out.truncate(expected);
    Ok(out)
}

/// Divides by the largest absolute sample (librosa's `util.normalize` with `norm=inf`).
/// All-silent input is returned unchanged (all zeros) instead of dividing by zero; its
/// log-mel spectrogram is then `ln(eps)` everywhere.
pub fn peak_normalise(samples: &mut [f32]) {
    let peak = samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if peak > 0.0 {
        let inv = 1.0 / peak;
        samples.iter_mut().for_each(|x| *x *= inv);
    }
}

/// The recipe's audio front end: mono, resampled to `target_rate`, peak-normalised.
/// Non-finite samples (NaN, infinity) are refused.
pub fn prepare(audio: &Audio, target_rate: u32) -> Result<Vec<f32>, MerError> {
    if audio.channels.is_empty() || audio.frames() == 0 {
        return Err(MerError::Audio("no audio samples".into()));
    }
    if audio.channels.iter().any(|c| c.len() != audio.frames()) {
        return Err(MerError::Audio("channels have different lengths".into()));
    }
    if let Some(bad) = audio
        .channels
        .iter()
        .flat_map(|c| c.iter())
        .find(|x| !x.is_finite())
    {
        return Err(MerError::Audio(format!(
            "audio contains a non-finite sample ({bad})"
        )));
    }
    let mono = to_mono(&audio.channels);
    let mut samples = resample(&mono, audio.sample_rate, target_rate)?;
    peak_normalise(&mut samples);
    Ok(samples)
}

#[cfg(feature = "decode")]
pub use decode::decode;

#[cfg(feature = "decode")]
mod decode {
    use std::io::Cursor;

    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::codecs::{CODEC_TYPE_NULL, DecoderOptions};
    use symphonia::core::errors::Error as SymError;
    use symphonia::core::formats::FormatOptions;
    use symphonia::core::io::MediaSourceStream;
    use symphonia::core::meta::MetadataOptions;
    use symphonia::core::probe::Hint;

    use super::Audio;
    use crate::MerError;

    /// Decodes an audio file held in memory. WAV (8/16/24/32-bit integer, 32-bit float, any
    /// channel count and rate, extra chunks) goes through hound; MP3, FLAC, OGG/Vorbis,
    /// AAC/ALAC in MP4 and the WAV variants hound does not read go through symphonia.
    /// `extension` (without the dot) is a hint for the container probe.
    pub fn decode(bytes: &[u8], extension: Option<&str>) -> Result<Audio, MerError> {
        if bytes.is_empty() {
            return Err(MerError::Audio("empty file".into()));
        }
        if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
            match decode_wav(bytes) {
                Ok(audio) => return check(audio),
                // Formats hound does not know (e.g. 64-bit float, A-law) may still decode.
                Err(WavError::Unsupported) => {}
                Err(WavError::Bad(msg)) => return Err(MerError::Audio(msg)),
            }
        }
        decode_symphonia(bytes, extension).and_then(check)
    }

    fn check(audio: Audio) -> Result<Audio, MerError> {
        if audio.frames() == 0 {
            return Err(MerError::Audio("the file holds no audio samples".into()));
        }
        super::check_rate(audio.sample_rate)?;
        super::check_channels(audio.channels.len())?;
        Ok(audio)
    }

    enum WavError {
        Unsupported,
        Bad(String),
    }

    fn decode_wav(bytes: &[u8]) -> Result<Audio, WavError> {
        let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| match e {
            hound::Error::Unsupported => WavError::Unsupported,
            other => WavError::Bad(format!("not a valid WAV file: {other}")),
        })?;
        let spec = reader.spec();
        // What the header claims is checked before any sample is read.
        let bad = |e: MerError| WavError::Bad(e.to_string());
        super::check_rate(spec.sample_rate).map_err(bad)?;
        super::check_channels(usize::from(spec.channels)).map_err(bad)?;
        let n_channels = usize::from(spec.channels.max(1));
        let declared = reader.duration() as usize;
        let channels = match Pcm::of(bytes, spec) {
            Some(pcm) => pcm.channels(bytes, n_channels),
            None => deinterleave(&samples(reader)?, n_channels),
        };
        let frames = channels.first().map_or(0, Vec::len);
        if frames < declared {
            return Err(WavError::Bad(format!(
                "truncated WAV: header declares {declared} frames, the file holds {frames}"
            )));
        }
        Ok(Audio {
            sample_rate: spec.sample_rate,
            channels,
        })
    }

    /// The common sample layouts, read straight from the data chunk's bytes (hound's
    /// reader goes sample by sample through `io::Read`: about 8x slower on a 4-minute
    /// CD-quality song). The values are those hound gives, scaled the same way.
    struct Pcm {
        /// Where the data chunk's samples begin, and how many bytes of them the file holds
        /// (fewer than the header declares when it is truncated).
        start: usize,
        len: usize,
        /// Bytes per sample and its format.
        width: usize,
        float: bool,
    }

    impl Pcm {
        fn of(bytes: &[u8], spec: hound::WavSpec) -> Option<Self> {
            let reader = hound::WavReader::new(Cursor::new(bytes)).ok()?;
            let samples = reader.len() as usize;
            // hound's reader stops at the data chunk's first sample, after its id and size.
            let start = usize::try_from(reader.into_inner().position()).ok()?;
            let header = bytes.get(start.checked_sub(8)?..start)?;
            if &header[..4] != b"data" || samples == 0 {
                return None;
            }
            let data_len = u32::from_le_bytes(header[4..].try_into().ok()?) as usize;
            let width = data_len / samples;
            let float = match (spec.sample_format, width, spec.bits_per_sample) {
                (hound::SampleFormat::Int, 1, 8)
                | (hound::SampleFormat::Int, 2, 16)
                | (hound::SampleFormat::Int, 3, 24)
                | (hound::SampleFormat::Int, 4, 32) => false,
                (hound::SampleFormat::Float, 4, 32) => true,
                // Narrower samples in wider containers and the rest: hound's reader.
                _ => return None,
            };
            let len = data_len.min(bytes.len() - start);
            Some(Self {
                start,
                len,
                width,
                float,
            })
        }

        /// The channels of every whole frame the file holds.
        fn channels(&self, bytes: &[u8], n_channels: usize) -> Vec<Vec<f32>> {
            let data = &bytes[self.start..self.start + self.len];
            let whole = data.len() / (self.width * n_channels) * self.width * n_channels;
            let data = &data[..whole];
            let interleaved = match (self.float, self.width) {
                (true, _) => convert(data, f32::from_le_bytes),
                (false, 1) => convert(data, |[b]: [u8; 1]| (f32::from(b) - 128.0) / 128.0),
                (false, 2) => convert(data, |b| f32::from(i16::from_le_bytes(b)) / 32_768.0),
                (false, 3) => convert(data, |[a, b, c]: [u8; 3]| {
                    (i32::from_le_bytes([0, a, b, c]) >> 8) as f32 / 8_388_608.0
                }),
                _ => convert(data, |b| i32::from_le_bytes(b) as f32 / 2_147_483_648.0),
            };
            if n_channels == 1 {
                vec![interleaved]
            } else {
                deinterleave(&interleaved, n_channels)
            }
        }
    }

    /// Every `W`-byte sample of `data` through `value` (one tight loop per layout).
    fn convert<const W: usize>(data: &[u8], value: impl Fn([u8; W]) -> f32) -> Vec<f32> {
        data.chunks_exact(W)
            .map(|b| value(b.try_into().expect("chunks of W bytes")))
            .collect()
    }

    /// Every sample hound's reader yields, interleaved, scaled to -1..1.
    fn samples(reader: hound::WavReader<Cursor<&[u8]>>) -> Result<Vec<f32>, WavError> {
        let spec = reader.spec();
        match (spec.sample_format, spec.bits_per_sample) {
            (hound::SampleFormat::Float, 32) => collect(reader.into_samples::<f32>(), |x| x),
            (hound::SampleFormat::Int, bits @ 1..=32) => {
                let scale = 1.0 / (1u64 << (bits - 1)) as f32;
                collect(reader.into_samples::<i32>(), |x| x as f32 * scale)
            }
            _ => Err(WavError::Unsupported),
        }
    }

    fn deinterleave(interleaved: &[f32], n: usize) -> Vec<Vec<f32>> {
        (0..n)
            .map(|c| interleaved.iter().skip(c).step_by(n).copied().collect())
            .collect()
    }

    fn collect<S, I: Iterator<Item = hound::Result<S>>>(
        samples: I,
        f: impl Fn(S) -> f32,
    ) -> Result<Vec<f32>, WavError> {
        let mut out = Vec::new();
        for s in samples {
            match s {
                Ok(x) => out.push(f(x)),
                // A short last read means the data chunk ends early: counted by the caller.
                Err(hound::Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    break;
                }
                Err(e) => return Err(WavError::Bad(format!("cannot read WAV samples: {e}"))),
            }
        }
        Ok(out)
    }

    fn decode_symphonia(bytes: &[u8], extension: Option<&str>) -> Result<Audio, MerError> {
        let stream =
            MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = extension {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                stream,
                &FormatOptions {
                    enable_gapless: true,
                    ..Default::default()
                },
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::Unsupported(_) => {
                    MerError::Audio("not an audio file, or an unsupported format".into())
                }
                other => MerError::Audio(format!("cannot read the audio container: {other}")),
            })?;
        let mut format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| MerError::Audio("the file has no audio track".into()))?;
        let track_id = track.id;
        let declared_frames = track.codec_params.n_frames;
        // What the container claims is checked before decoding.
        if let Some(rate) = track.codec_params.sample_rate {
            super::check_rate(rate)?;
        }
        if let Some(ch) = track.codec_params.channels {
            super::check_channels(ch.count())?;
        }
        let mut decoder = symphonia::default::get_codecs()
            .make(&track.codec_params, &DecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(what) => {
                    MerError::Audio(format!("unsupported audio codec ({what})"))
                }
                other => MerError::Audio(format!("cannot decode the audio track: {other}")),
            })?;
        let mut sample_rate = track.codec_params.sample_rate.unwrap_or(0);
        let mut channels: Vec<Vec<f32>> = Vec::new();
        let mut buffer: Option<SampleBuffer<f32>> = None;
        let mut decode_errors = 0usize;
        let mut decoded_packets = 0usize;
        loop {
            let packet = match format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    break;
                }
                Err(SymError::ResetRequired) => break,
                Err(e) => {
                    return Err(MerError::Audio(format!("cannot read audio packets: {e}")));
                }
            };
            if packet.track_id() != track_id {
                continue;
            }
            let decoded = match decoder.decode(&packet) {
                Ok(d) => d,
                // A damaged packet: skip it like every player does, but count it.
                Err(SymError::DecodeError(_)) => {
                    decode_errors += 1;
                    continue;
                }
                Err(SymError::IoError(_)) => break,
                Err(e) => return Err(MerError::Audio(format!("cannot decode audio: {e}"))),
            };
            decoded_packets += 1;
            let spec = *decoded.spec();
            sample_rate = spec.rate;
            super::check_rate(sample_rate)?;
            let n = spec.channels.count().max(1);
            super::check_channels(n)?;
            if channels.is_empty() {
                channels = vec![Vec::new(); n];
            }
            if channels.len() != n {
                return Err(MerError::Audio(
                    "the channel count changes inside the stream".into(),
                ));
            }
            let buf = buffer
                .get_or_insert_with(|| SampleBuffer::<f32>::new(decoded.capacity() as u64, spec));
            if buf.capacity() < decoded.capacity() * n {
                *buf = SampleBuffer::<f32>::new(decoded.capacity() as u64, spec);
            }
            buf.copy_interleaved_ref(decoded);
            for frame in buf.samples().chunks_exact(n) {
                for (c, x) in channels.iter_mut().zip(frame) {
                    c.push(*x);
                }
            }
        }
        if decoded_packets == 0 {
            return Err(MerError::Audio(if decode_errors > 0 {
                format!("corrupt audio: none of {decode_errors} packets decoded")
            } else {
                "the file holds no audio samples".into()
            }));
        }
        if decode_errors * 10 > decoded_packets {
            return Err(MerError::Audio(format!(
                "corrupt audio: {decode_errors} damaged packets, {decoded_packets} good ones"
            )));
        }
        let audio = Audio {
            sample_rate,
            channels,
        };
        if let Some(declared) = declared_frames {
            // 1 % slack for encoder padding and priming samples.
            if (audio.frames() as u64) * 100 < declared * 99 {
                return Err(MerError::Audio(format!(
                    "truncated: the stream declares {:.1} s, {:.1} s decode",
                    declared as f64 / f64::from(sample_rate.max(1)),
                    audio.seconds()
                )));
            }
        }
        Ok(audio)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A 3-channel WAV in `spec`'s layout, with a chunk after the data chunk.
        fn wav(spec: hound::WavSpec, frames: usize) -> Vec<u8> {
            let mut out = Cursor::new(Vec::new());
            let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
            let top = (1i64 << (spec.bits_per_sample - 1)) as f64;
            for i in 0..frames * usize::from(spec.channels) {
                let x = ((i * 7919) % 2001) as f64 / 1000.0 - 1.0; // -1..1, every level's sign
                match spec.sample_format {
                    hound::SampleFormat::Float => w.write_sample(x as f32).unwrap(),
                    hound::SampleFormat::Int => w
                        .write_sample((x * top).clamp(-top, top - 1.0) as i32)
                        .unwrap(),
                }
            }
            w.finalize().unwrap();
            let mut bytes = out.into_inner();
            bytes.extend_from_slice(b"LIST\x04\x00\x00\x00INFO");
            bytes
        }

        #[test]
        fn direct_read_gives_what_hounds_reader_gives() {
            let layouts = [
                (hound::SampleFormat::Int, 8),
                (hound::SampleFormat::Int, 16),
                (hound::SampleFormat::Int, 24),
                (hound::SampleFormat::Int, 32),
                (hound::SampleFormat::Float, 32),
            ];
            for (sample_format, bits_per_sample) in layouts {
                let spec = hound::WavSpec {
                    channels: 3,
                    sample_rate: 22_050,
                    bits_per_sample,
                    sample_format,
                };
                let bytes = wav(spec, 1_001);
                assert!(Pcm::of(&bytes, spec).is_some(), "{spec:?} is read directly");
                let direct = decode_wav(&bytes).ok().unwrap();
                let reader = hound::WavReader::new(Cursor::new(&bytes[..])).unwrap();
                let by_hound = deinterleave(&samples(reader).ok().unwrap(), 3);
                assert_eq!(direct.channels, by_hound, "{spec:?}");
                assert_eq!(direct.frames(), 1_001);
                assert!(direct.channels.iter().flatten().any(|x| *x < -0.5));
            }
        }

        #[test]
        fn a_truncated_data_chunk_is_refused() {
            let spec = hound::WavSpec {
                channels: 2,
                sample_rate: 8_000,
                bits_per_sample: 16,
                sample_format: hound::SampleFormat::Int,
            };
            let bytes = wav(spec, 100);
            let cut = &bytes[..bytes.len() - 12 - 40];
            match decode_wav(cut) {
                Err(WavError::Bad(msg)) => assert!(msg.contains("truncated WAV"), "{msg}"),
                _ => panic!("a truncated WAV decodes"),
            }
        }
    }
}
