//! The 4-bit weight format (`Precision::Q4`): every dense weight matrix in 4-bit integers
//! with one f16 scale per block of [`BLOCK`] consecutive values (symmetric: the block's
//! largest magnitude maps to 7), the convolution kernels the same way in 8 bits (max to
//! 127), every other tensor (biases, BatchNorm) in f32, all deflated. burn 0.22's
//! burnpack stores 4-bit tensors one value per byte, so they would be no smaller than
//! int8; this packs two per byte and lets deflate take what the values' skewed
//! distribution leaves. Loading unpacks to f32 on the CPU.
//!
//! The kernels keep 8 bits because every layer after them sees their error: measured on
//! a trained classifier, all-4-bit weights lost 1.1 points of test quadrant F1 (patches)
//! against f32, for 0.1 MB saved (the kernels are 4 % of the weights).
//!
//! Also measured, on cpc-eng-full against its f32 weights (2026-12-05; changes of quadrant
//! F1 on patches, test / held-out 0 A.D. / held-out UFO:AI, in points): this format
//! -0.04 / +1.12 / -1.51; the heads' output layers in 8 bits -0.04 / +0.98 / -1.54;
//! bias correction of the dense layers from 2 048 training patches +0.11 / -3.04 / -0.36
//! (with 8-bit outputs +0.05 / -1.73 / -0.62); blocks of 64 with both, at 3.20 MB,
//! +0.04 / -1.30 / -1.40. Each keeps 96-97 % of the held-out patches in their f32
//! quadrant, and on those near-chance sets (F1 0.22 and 0.39) the 3-4 % that move are
//! worth about 1.5 points either way, so none was adopted.
//!
//! Layout: `MAGIC`, u32 tensor count, u64 payload length, then the deflated payload: per
//! tensor in the module's visiting order, its path (u16 length + UTF-8), kind (0: f32,
//! 1: 4-bit blocks, 2: 8-bit blocks), rank (u8), dimensions (u32 each), then the f32
//! values, or the f16 scales followed by the nibbles (value + 8, low nibble first) or the
//! bytes (value as i8).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::MerError;
use crate::model::Classifier;

/// The last byte is the layout's version (1 had every kernel in 4 bits).
const MAGIC: &[u8; 8] = b"MERQ4\0\0\x02";
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

/// Records each float tensor with its path.
struct Writer {
    path: Vec<String>,
    payload: Vec<u8>,
    count: u32,
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
        let mut levels = Vec::with_capacity(values.len());
        for block in values.chunks(BLOCK) {
            let (scale, q) = quantize_block(block, kind.top());
            p.extend_from_slice(&scale.to_bits().to_le_bytes());
            levels.extend(q);
        }
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

/// Packs a classifier's weights (computed on the CPU).
pub fn encode(model: &Classifier) -> Result<Vec<u8>, MerError> {
    let mut w = Writer {
        path: Vec::new(),
        payload: Vec::new(),
        count: 0,
        error: None,
    };
    model.visit(&mut w);
    if let Some(e) = w.error {
        return Err(e);
    }
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
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
        let blocks = n.div_ceil(BLOCK);
        let scales: Vec<f32> = r
            .take(blocks * 2)?
            .chunks_exact(2)
            .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
            .collect();
        if kind == Kind::Bits8 {
            let bytes = r.take(n)?;
            return Ok((0..n)
                .map(|i| f32::from(bytes[i] as i8) * scales[i / BLOCK])
                .collect());
        }
        let nibbles = r.take(n.div_ceil(2))?;
        Ok((0..n)
            .map(|i| {
                let byte = nibbles[i / 2];
                let q = if i % 2 == 0 { byte & 15 } else { byte >> 4 };
                (f32::from(q) - 8.0) * scales[i / BLOCK]
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
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(bad("not a 4-bit weight block"));
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
}
