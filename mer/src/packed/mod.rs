//! The 4-bit weight format (`Precision::Q4`): every dense weight matrix in 4-bit integers
//! with one f16 scale per block of [`BLOCK`] consecutive values (symmetric: the block's
//! largest magnitude maps to 7), the convolution kernels in 8 bits with one scale per 3x3
//! filter ([`KERNEL_BLOCK`] values, largest to 127), every other tensor (biases,
//! BatchNorm) in f32, all deflated. burn 0.22's burnpack stores 4-bit tensors one value
//! per byte, so they would be no smaller than int8; this packs two per byte and lets
//! deflate take what the values' skewed distribution leaves. Loading unpacks to f32 on the
//! CPU.
//!
//! Which levels: [`encode`] rounds every value to its nearest level; [`encode_calibrated`]
//! (what `trainer export` uses) chooses the dense layers' levels by GPTQ on patches of the
//! training music, so that their errors cancel in the layers' outputs ([`gptq`]). Either
//! file, rounded to the nearest level again, gives its own weights back.
//!
//! The kernels keep 8 bits because every later layer sees their error: all-4-bit weights
//! lost 1.1 points of test quadrant F1 against f32 for 0.1 MB saved. What the rest costs,
//! measured on cpc-eng-full against its f32 weights over the 10 789 patches of held-out
//! UFO:AI music (2026-12-05; mean L1 change of the four quadrant probabilities, and the
//! patches whose quadrant stays): version 2 of this layout (one kernel scale per 128
//! values, every level the nearest) 0.057 and 97.2 %, of which its kernels alone 0.036
//! and its dense layers alone 0.027. A scale per output channel brings the kernels' part
//! to 0.024, a scale per filter to 0.011 (64 kB more); GPTQ brings the dense layers' part
//! to 0.011; both together 0.015 and 99.1 %. Before these, 8-bit output layers, bias
//! correction of the dense layers and blocks of 64 each moved the held-out quadrant F1
//! by 0.4-3 points either way and were not adopted. What the shipped files lose in F1 and
//! AUC: results/real-music.md.
//!
//! Layout: `MAGIC`, the version (u8), u32 tensor count, u64 payload length, then the
//! deflated payload: per tensor in the module's visiting order, its path (u16 length +
//! UTF-8), kind (0: f32, 1: 4-bit blocks, 2: 8-bit blocks), rank (u8), dimensions (u32
//! each), then the f32 values, or the f16 scales followed by the nibbles (value + 8, low
//! nibble first) or the bytes (value as i8).

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::MerError;
use crate::features::Patches;
use crate::model::Classifier;

mod gptq;

/// The first bytes of the block; the next one is the layout's version.
const MAGIC: &[u8; 7] = b"MERQ4\0\0";
/// The layout written: 3 has one kernel scale per 3x3 filter. Version 2 (one per 128
/// kernel values) still loads; 1 (every kernel in 4 bits) was never shipped.
const VERSION: u8 = 3;
/// Values per scale of the 8-bit kernels: one 3x3 filter (the header says why).
pub const KERNEL_BLOCK: usize = 9;
/// Values per scale. Measured on a shipped classifier (`mer/tests/networks.rs`): blocks
/// of 32, 64, 128 and 256 give 3.33, 3.20, 3.12 and 3.24 MB (smaller blocks cost scales,
/// larger ones spread the values over more levels), with about the same error.
pub const BLOCK: usize = 128;
/// A payload larger than this is refused before it is inflated (the classifier's is about
/// 27 MB in f32): a hostile file cannot make the loader allocate without bound.
const MAX_PAYLOAD: usize = 64 << 20;

fn bad(msg: impl std::fmt::Display) -> MerError {
    MerError::ModelFile(format!("cannot read the 4-bit weights: {msg}"))
}

/// How a tensor is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32 = 0,
    Bits4 = 1,
    Bits8 = 2,
}

impl Kind {
    /// Dense weight matrices in 4 bits, convolution kernels in 8, the rest in f32.
    fn of(path: &str, dims: &[usize]) -> Self {
        match (path.ends_with("weight"), dims.len()) {
            (true, 2) => Self::Bits4,
            (true, 4) => Self::Bits8,
            _ => Self::F32,
        }
    }

    /// Values per scale.
    fn block(self, version: u8) -> usize {
        match (self, version) {
            (Self::Bits8, 3..) => KERNEL_BLOCK,
            _ => BLOCK,
        }
    }

    /// The largest level of a block's values.
    fn top(self) -> f32 {
        match self {
            Self::Bits8 => 127.0,
            _ => 7.0,
        }
    }
}

/// Quantizes one block: (scale, values in -top..=top), the largest magnitude mapped to
/// `top` (7 for 4 bits, 127 for 8). (Measured against a least-squares choice of scale:
/// that one lowers the error a little but uses the outer levels more often, which deflate
/// then packs worse.)
fn quantize_block(x: &[f32], top: f32) -> (half::f16, Vec<i8>) {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let scale = half::f16::from_f32(max / top);
    let s = scale.to_f32();
    let q = x
        .iter()
        .map(|v| {
            if s > 0.0 {
                (v / s).round().clamp(-top - 1.0, top) as i8
            } else {
                0
            }
        })
        .collect();
    (scale, q)
}

/// The blocks of one tensor as a rounding other than to the nearest level chose them:
/// one scale per block, one level per value, in the tensor's memory order.
struct Rounded {
    scales: Vec<half::f16>,
    levels: Vec<i8>,
}

/// Records each float tensor with its path.
struct Writer {
    path: Vec<String>,
    payload: Vec<u8>,
    count: u32,
    /// Levels chosen in advance, by path; the other tensors are rounded to the nearest.
    rounded: HashMap<String, Rounded>,
    /// The layout's version (the current one, or an older one in tests).
    version: u8,
    error: Option<MerError>,
}

impl ModuleVisitor for Writer {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.path.join(".");
        let tensor = param.val();
        let dims = tensor.dims().to_vec();
        let values = match tensor.into_data().convert::<f32>().try_into_vec::<f32>() {
            Ok(v) => v,
            Err(e) => {
                self.error = Some(bad(format!("{path}: {e:?}")));
                return;
            }
        };
        let p = &mut self.payload;
        p.extend_from_slice(&(path.len() as u16).to_le_bytes());
        p.extend_from_slice(path.as_bytes());
        let kind = Kind::of(&path, &dims);
        p.push(kind as u8);
        p.push(dims.len() as u8);
        for d in &dims {
            p.extend_from_slice(&(*d as u32).to_le_bytes());
        }
        if kind == Kind::F32 {
            for v in values {
                p.extend_from_slice(&v.to_le_bytes());
            }
            self.count += 1;
            return;
        }
        let levels = match self.rounded.remove(&path) {
            Some(r)
                if r.levels.len() == values.len()
                    && r.scales.len() == values.len().div_ceil(kind.block(self.version))
                    && r.levels
                        .iter()
                        .all(|&q| (-kind.top() - 1.0..=kind.top()).contains(&f32::from(q))) =>
            {
                for scale in r.scales {
                    p.extend_from_slice(&scale.to_bits().to_le_bytes());
                }
                r.levels
            }
            Some(_) => {
                self.error = Some(bad(format!("{path}: the chosen levels do not fit")));
                return;
            }
            None => {
                let mut levels = Vec::with_capacity(values.len());
                for block in values.chunks(kind.block(self.version)) {
                    let (scale, q) = quantize_block(block, kind.top());
                    p.extend_from_slice(&scale.to_bits().to_le_bytes());
                    levels.extend(q);
                }
                levels
            }
        };
        if kind == Kind::Bits8 {
            p.extend(levels.into_iter().map(|v| v as u8));
        } else {
            p.extend(
                levels.chunks(2).map(|pair| {
                    (pair[0] + 8) as u8 | (pair.get(1).map_or(8, |v| (v + 8) as u8) << 4)
                }),
            );
        }
        self.count += 1;
    }
}

/// Packs a classifier's weights (computed on the CPU), each rounded to the nearest level.
pub fn encode(model: &Classifier) -> Result<Vec<u8>, MerError> {
    encode_rounded(model, HashMap::new())
}

/// Packs a classifier's weights (on the CPU) with its dense layers rounded to minimise
/// their output error on `calibration`, patches of the music it was trained on (GPTQ:
/// see [`gptq`]). The kernels and the f32 tensors are stored as [`encode`] stores them.
pub fn encode_calibrated(model: &Classifier, calibration: &Patches) -> Result<Vec<u8>, MerError> {
    let device = model.dense1.linear.weight.val().device();
    let nearest = decode(&encode(model)?, &device)?;
    let rounded = gptq::calibrate(model, &nearest, calibration)?;
    encode_rounded(model, rounded)
}

fn encode_rounded(
    model: &Classifier,
    rounded: HashMap<String, Rounded>,
) -> Result<Vec<u8>, MerError> {
    encode_version(model, rounded, VERSION)
}

fn encode_version(
    model: &Classifier,
    rounded: HashMap<String, Rounded>,
    version: u8,
) -> Result<Vec<u8>, MerError> {
    let mut w = Writer {
        path: Vec::new(),
        payload: Vec::new(),
        count: 0,
        rounded,
        version,
        error: None,
    };
    model.visit(&mut w);
    if let Some(e) = w.error {
        return Err(e);
    }
    if let Some(path) = w.rounded.keys().next() {
        return Err(bad(format!("{path}: chosen levels for no 4-bit tensor")));
    }
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.push(version);
    out.extend_from_slice(&w.count.to_le_bytes());
    out.extend_from_slice(&(w.payload.len() as u64).to_le_bytes());
    out.extend(miniz_oxide::deflate::compress_to_vec(&w.payload, 9));
    Ok(out)
}

/// A cursor over the payload that refuses to read past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MerError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| bad("the payload ends early"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, MerError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MerError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn u32(&mut self) -> Result<u32, MerError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
}

/// Puts each stored tensor into the fresh classifier's parameter of the same path.
struct Loader<'a> {
    path: Vec<String>,
    reader: Reader<'a>,
    /// The classifier's float tensors visited.
    tensors: u32,
    /// The layout's version.
    version: u8,
    error: Option<MerError>,
}

impl Loader<'_> {
    fn next_tensor(&mut self, want_path: &str, want_dims: &[usize]) -> Result<Vec<f32>, MerError> {
        let r = &mut self.reader;
        let len = usize::from(r.u16()?);
        let path = String::from_utf8_lossy(r.take(len)?).into_owned();
        if path != want_path {
            return Err(bad(format!("found {path:?} where {want_path:?} belongs")));
        }
        let kind = match r.u8()? {
            0 => Kind::F32,
            1 => Kind::Bits4,
            2 => Kind::Bits8,
            k => return Err(bad(format!("{path}: unknown kind {k}"))),
        };
        let rank = usize::from(r.u8()?);
        let dims = (0..rank)
            .map(|_| r.u32().map(|d| d as usize))
            .collect::<Result<Vec<_>, _>>()?;
        if dims != want_dims || kind != Kind::of(&path, &dims) {
            return Err(bad(format!(
                "{path}: shape {dims:?} where the classifier has {want_dims:?}"
            )));
        }
        let n: usize = dims.iter().product();
        if kind == Kind::F32 {
            return Ok(r
                .take(n * 4)?
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect());
        }
        let block = kind.block(self.version);
        let blocks = n.div_ceil(block);
        let scales: Vec<f32> = r
            .take(blocks * 2)?
            .chunks_exact(2)
            .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect();
        if kind == Kind::Bits8 {
            let bytes = r.take(n)?;
            return Ok((0..n)
                .map(|i| f32::from(bytes[i] as i8) * scales[i / block])
                .collect());
        }
        let nibbles = r.take(n.div_ceil(2))?;
        Ok((0..n)
            .map(|i| {
                let byte = nibbles[i / 2];
                let q = if i % 2 == 0 { byte & 15 } else { byte >> 4 };
                (f32::from(q) - 8.0) * scales[i / block]
            })
            .collect())
    }
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.tensors += 1;
        if self.error.is_some() {
            return param;
        }
        let path = self.path.join(".");
        let dims: [usize; D] = param.val().dims();
        match self.next_tensor(&path, &dims) {
            Ok(values) => param.map(|t| {
                let device = t.device();
                Tensor::from_data(TensorData::new(values, dims), &device)
            }),
            Err(e) => {
                self.error = Some(e);
                param
            }
        }
    }
}

/// Unpacks 4-bit weights into a fresh classifier on `cpu`.
pub fn decode(bytes: &[u8], cpu: &Device) -> Result<Classifier, MerError> {
    if bytes.len() < 20 || &bytes[..7] != MAGIC {
        return Err(bad("not a 4-bit weight block"));
    }
    let version = bytes[7];
    if !(2..=VERSION).contains(&version) {
        return Err(bad(format!(
            "layout version {version}, this build reads 2 to {VERSION}"
        )));
    }
    let count = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD)
        .ok_or_else(|| bad(format!("a payload of {len} bytes")))?;
    let payload = miniz_oxide::inflate::decompress_to_vec_with_limit(&bytes[20..], len)
        .map_err(|e| bad(format!("damaged ({e})")))?;
    if payload.len() != len {
        return Err(bad("the payload's length is not the one stated"));
    }
    let model = Classifier::new(cpu);
    let mut loader = Loader {
        path: Vec::new(),
        reader: Reader {
            bytes: &payload,
            at: 0,
        },
        tensors: 0,
        version,
        error: None,
    };
    let model = model.map(&mut loader);
    if let Some(e) = loader.error {
        return Err(e);
    }
    if loader.tensors != count || loader.reader.at != payload.len() {
        return Err(bad("the stored tensors are not the classifier's"));
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_to_the_nearest_of_fifteen_levels() {
        let x = [0.7, -0.35, 0.0, 0.1, -0.7];
        let (scale, q) = quantize_block(&x, Kind::Bits4.top());
        assert!((scale.to_f32() - 0.1).abs() < 1e-4);
        assert_eq!(q, vec![7, -4, 0, 1, -7]);
        let (scale, q) = quantize_block(&[0.0; 4], Kind::Bits4.top());
        assert_eq!((scale.to_f32(), q), (0.0, vec![0; 4]));
        // 8 bits: 255 levels
        let (scale, q) = quantize_block(&[1.27, -0.64, 0.01], Kind::Bits8.top());
        assert!((scale.to_f32() - 0.01).abs() < 1e-5);
        assert_eq!(q, vec![127, -64, 1]);
    }

    #[test]
    fn dense_weights_in_4_bits_kernels_in_8_the_rest_in_f32() {
        assert_eq!(Kind::of("dense1.linear.weight", &[7936, 512]), Kind::Bits4);
        assert_eq!(
            Kind::of("encoder.block1.conv1.weight", &[32, 1, 3, 3]),
            Kind::Bits8
        );
        assert_eq!(Kind::of("encoder.block1.bn1.weight", &[32]), Kind::F32);
        assert_eq!(Kind::of("dense1.linear.bias", &[512]), Kind::F32);
    }

    /// The first kernel's values, or (as a mapper) that kernel with its first filter
    /// made 100 times smaller than the others.
    struct FirstKernel {
        values: Option<Vec<f32>>,
    }

    impl ModuleVisitor for FirstKernel {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if D == 4 && self.values.is_none() {
                self.values = Some(param.val().into_data().try_into_vec::<f32>().unwrap());
            }
        }
    }

    impl ModuleMapper for FirstKernel {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if D != 4 || self.values.is_some() {
                return param;
            }
            param.map(|t| {
                let (dims, device) = (t.dims(), t.device());
                let mut v = t.into_data().try_into_vec::<f32>().unwrap();
                v[..9].iter_mut().for_each(|x| *x *= 0.01);
                self.values = Some(v.clone());
                Tensor::from_data(TensorData::new(v, dims), &device)
            })
        }
    }

    /// Both layouts load: version 2's kernels with one scale per 128 values, version 3's
    /// with one per filter, which follows a small filter beside large ones closely.
    #[test]
    fn kernels_keep_a_scale_per_filter_and_version_2_still_loads() {
        let device = Device::flex();
        let mut shrink = FirstKernel { values: None };
        let model = Classifier::new(&device).map(&mut shrink);
        let values = shrink.values.unwrap();
        let peak = values[..9].iter().fold(0f32, |m, v| m.max(v.abs()));
        let small_filter_error = |version: u8| -> f32 {
            let bytes = encode_version(&model, HashMap::new(), version).unwrap();
            assert_eq!(bytes[7], version);
            let mut read = FirstKernel { values: None };
            decode(&bytes, &device).unwrap().visit(&mut read);
            read.values.unwrap()[..9]
                .iter()
                .zip(&values[..9])
                .map(|(a, b)| (a - b).abs() / peak)
                .fold(0f32, f32::max)
        };
        let (v2, v3) = (small_filter_error(2), small_filter_error(VERSION));
        assert!(v3 <= 0.5 / 127.0 + 1e-4, "version 3: {v3}");
        assert!(v2 > 10.0 * v3, "version 2: {v2}, version 3: {v3}");
        let mut other = encode(&model).unwrap();
        other[7] = 1;
        let e = decode(&other, &device).unwrap_err().to_string();
        assert!(e.contains("layout version 1"), "{e}");
    }
}
