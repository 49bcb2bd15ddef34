//! The paper's networks (docs/METHOD.md, "Encoder", "SCAE", "CPC", "Transfer"), on any
//! burn device.
//!
//! Layer settings match Keras: 3x3 "same" convolutions with ReLU and Glorot-uniform weights,
//! zero biases, each followed by BatchNorm (momentum 0.99 in Keras = 0.01 here, epsilon
//! 1e-3). Dropout and BatchNorm train only on an autodiff device with training on; call
//! `valid()` for inference.
//!
//! Every network ends its encoder with the fourth max-pool (2, 1), giving the latent
//! (128, 2, 31) = 7 936 values: the Keras parameter counts of all three networks
//! (classifier 6 456 426, SCAE 712 803, CPC 2 911 842) only add up with it, although
//! the paper's description names it for the SCAE alone (docs/METHOD.md, "Encoder").

use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Gru, GruConfig, Initializer, Linear,
    LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::activation::{relu, sigmoid, softmax};

use crate::ops::{
    conv_relu_batch_norm, conv_transpose2d_layer, dropout_layer, max_pool_layer, relu_batch_norm,
};

/// Name of the classifier's network definition, stored in model files.
pub const ARCHITECTURE: &str = "classifier";

/// Channels of the input patch.
pub const IN_CHANNELS: usize = 1;
/// Mel bands and frames of a patch.
pub const PATCH: [usize; 2] = [128, 31];
/// Values in one patch.
pub const PATCH_VALUES: usize = PATCH[0] * PATCH[1];
/// Values in the encoder's latent (128, 2, 31).
pub const LATENT: usize = 128 * 2 * 31;
/// Keras' dropout rate throughout the paper's networks.
pub const DROPOUT: f64 = 0.25;

fn glorot() -> Initializer {
    Initializer::XavierUniform { gain: 1.0 }
}

/// Keras' BatchNormalization momentum 0.99, in burn's convention (weight of the new batch).
pub const KERAS_MOMENTUM: f64 = 0.01;

/// Keras' BatchNormalization defaults.
fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_momentum(KERAS_MOMENTUM)
        .with_epsilon(1e-3)
        .init(device)
}

fn zero_bias<const D: usize>(
    bias: Option<burn::module::Param<Tensor<D>>>,
) -> Option<burn::module::Param<Tensor<D>>> {
    bias.map(|p| p.map(|t| t.zeros_like()))
}

fn conv3x3(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    let mut conv = Conv2dConfig::new([c_in, c_out], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .with_initializer(glorot())
        .init(device);
    conv.bias = zero_bias(conv.bias);
    conv
}

/// A transposed 3x3 convolution, stride 1, "same" padding. burn's transposed convolution
/// gives its initializer no fan-out, so Glorot's uniform bound is spelled out.
fn conv_t3x3(c_in: usize, c_out: usize, device: &Device) -> ConvTranspose2d {
    let limit = (6.0 / (9 * (c_in + c_out)) as f64).sqrt();
    let mut conv = ConvTranspose2dConfig::new([c_in, c_out], [3, 3])
        .with_padding([1, 1])
        .with_initializer(Initializer::Uniform {
            min: -limit,
            max: limit,
        })
        .init(device);
    conv.bias = zero_bias(conv.bias);
    conv
}

/// Dense layer with Glorot-uniform weights and a zero bias (Keras' defaults).
pub fn dense(d_in: usize, d_out: usize, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(d_in, d_out)
        .with_initializer(glorot())
        .init(device);
    linear.bias = zero_bias(linear.bias);
    linear
}

/// Two 3x3 convolutions (each ReLU then BatchNorm), a max-pool over mel bands, dropout.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    bn1: BatchNorm,
    conv2: Conv2d,
    bn2: BatchNorm,
    pool: MaxPool2d,
    dropout: Dropout,
}

impl ConvBlock {
    fn new(c_in: usize, c_out: usize, pool: [usize; 2], device: &Device) -> Self {
        Self {
            conv1: conv3x3(c_in, c_out, device),
            bn1: batch_norm(c_out, device),
            conv2: conv3x3(c_out, c_out, device),
            bn2: batch_norm(c_out, device),
            pool: MaxPool2dConfig::new(pool).init(),
            dropout: DropoutConfig::new(DROPOUT).init(),
        }
    }

    fn with_stats_mode(mut self, momentum: f64, dropout: f64) -> Self {
        self.bn1.momentum = momentum;
        self.bn2.momentum = momentum;
        self.dropout.prob = dropout;
        self
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = conv_relu_batch_norm(&self.conv1, &self.bn1, x);
        let x = conv_relu_batch_norm(&self.conv2, &self.bn2, x);
        dropout_layer(&self.dropout, max_pool_layer(&self.pool, x))
    }
}

/// The encoder shared by the SCAE, the CPC and the classifier:
/// (1, 128, 31) -> BatchNorm -> blocks of 32, 64, 128 channels -> max-pool (2, 1)
/// -> latent (128, 2, 31).
#[derive(Module, Debug)]
pub struct Encoder {
    input_bn: BatchNorm,
    block1: ConvBlock,
    block2: ConvBlock,
    block3: ConvBlock,
    latent_pool: MaxPool2d,
}

impl Encoder {
    pub fn new(device: &Device) -> Self {
        Self {
            input_bn: batch_norm(IN_CHANNELS, device),
            block1: ConvBlock::new(IN_CHANNELS, 32, [4, 1], device),
            block2: ConvBlock::new(32, 64, [4, 1], device),
            block3: ConvBlock::new(64, 128, [2, 1], device),
            latent_pool: MaxPool2dConfig::new([2, 1]).init(),
        }
    }

    /// [b, 1, 128, 31] -> [b, 128, 2, 31]
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.input_bn.forward(x);
        let x = self
            .block3
            .forward(self.block2.forward(self.block1.forward(x)));
        max_pool_layer(&self.latent_pool, x)
    }

    /// [b, 1, 128, 31] -> [b, 7936]
    pub fn forward_flat(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(x).flatten(1, 3)
    }
}

impl RunningStats for Encoder {
    fn with_stats_mode(mut self, momentum: f64, dropout: f64) -> Self {
        self.input_bn.momentum = momentum;
        self.block1 = self.block1.with_stats_mode(momentum, dropout);
        self.block2 = self.block2.with_stats_mode(momentum, dropout);
        self.block3 = self.block3.with_stats_mode(momentum, dropout);
        self
    }
}

/// Networks whose BatchNorm running statistics can be re-estimated (PyTorch's
/// `update_bn`): set every BatchNorm's momentum (1 / (k + 1) at the k-th batch averages
/// the batch statistics exactly) and every dropout rate (0 while estimating, so the
/// statistics are those of inference). [`KERAS_MOMENTUM`] and [`DROPOUT`] restore them.
pub trait RunningStats: Sized {
    fn with_stats_mode(self, momentum: f64, dropout: f64) -> Self;

    /// Keras' BatchNorm momentum and the paper's dropout, as the networks are built.
    fn with_training_mode(self) -> Self {
        self.with_stats_mode(KERAS_MOMENTUM, DROPOUT)
    }
}

/// Nearest-neighbour upsampling along the mel axis (Keras' UpSampling2D((f, 1))).
fn upsample_mel(x: Tensor<4>, factor: usize) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w])
        .expand([b, c, h, factor, w])
        .reshape([b, c, h * factor, w])
}

/// Transposed convolution, ReLU, BatchNorm.
#[derive(Module, Debug)]
pub struct DeconvLayer {
    conv: ConvTranspose2d,
    bn: BatchNorm,
}

impl DeconvLayer {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self {
            conv: conv_t3x3(c_in, c_out, device),
            bn: batch_norm(c_out, device),
        }
    }

    fn with_stats_mode(mut self, momentum: f64) -> Self {
        self.bn.momentum = momentum;
        self
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu_batch_norm(&self.bn, conv_transpose2d_layer(&self.conv, x))
    }
}

/// The SCAE's decoder, mirroring the encoder: latent (128, 2, 31) -> (1, 128, 31).
#[derive(Module, Debug)]
pub struct Decoder {
    deconv1: DeconvLayer,
    deconv2: DeconvLayer,
    deconv3: DeconvLayer,
    deconv4: DeconvLayer,
    deconv5: DeconvLayer,
    /// The last layer: one channel, sigmoid, no BatchNorm (the Keras count has none).
    output: ConvTranspose2d,
    dropout: Dropout,
}

impl Decoder {
    pub fn new(device: &Device) -> Self {
        Self {
            deconv1: DeconvLayer::new(128, 128, device),
            deconv2: DeconvLayer::new(128, 128, device),
            deconv3: DeconvLayer::new(128, 64, device),
            deconv4: DeconvLayer::new(64, 64, device),
            deconv5: DeconvLayer::new(64, 32, device),
            output: conv_t3x3(32, 1, device),
            dropout: DropoutConfig::new(DROPOUT).init(),
        }
    }

    /// [b, 128, 2, 31] -> [b, 1, 128, 31], values in (0, 1).
    pub fn forward(&self, z: Tensor<4>) -> Tensor<4> {
        let x = upsample_mel(upsample_mel(z, 2), 2);
        let x = self.deconv2.forward(self.deconv1.forward(x));
        let x = dropout_layer(&self.dropout, x);
        let x = upsample_mel(x, 4);
        let x = self.deconv4.forward(self.deconv3.forward(x));
        let x = dropout_layer(&self.dropout, x);
        let x = upsample_mel(x, 4);
        let x = self.deconv5.forward(x);
        sigmoid(conv_transpose2d_layer(&self.output, x))
    }
}

impl RunningStats for Decoder {
    fn with_stats_mode(mut self, momentum: f64, dropout: f64) -> Self {
        self.deconv1 = self.deconv1.with_stats_mode(momentum);
        self.deconv2 = self.deconv2.with_stats_mode(momentum);
        self.deconv3 = self.deconv3.with_stats_mode(momentum);
        self.deconv4 = self.deconv4.with_stats_mode(momentum);
        self.deconv5 = self.deconv5.with_stats_mode(momentum);
        self.dropout.prob = dropout;
        self
    }
}

/// Sparse convolutional denoising autoencoder (the paper's "SCAE", "DAE").
#[derive(Module, Debug)]
pub struct Scae {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

impl Scae {
    pub fn new(device: &Device) -> Self {
        Self {
            encoder: Encoder::new(device),
            decoder: Decoder::new(device),
        }
    }

    /// Reconstruction of a (noisy) patch: [b, 1, 128, 31] -> [b, 1, 128, 31].
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.decoder.forward(self.encoder.forward(x))
    }
}

impl RunningStats for Scae {
    fn with_stats_mode(mut self, momentum: f64, dropout: f64) -> Self {
        self.encoder = self.encoder.with_stats_mode(momentum, dropout);
        self.decoder = self.decoder.with_stats_mode(momentum, dropout);
        self
    }
}

/// Code size of the CPC.
pub const CPC_CODE: usize = 256;
/// Past patches the CPC context sees (the paper's best setting).
pub const CPC_PAST: usize = 4;
/// Future patches the CPC predicts.
pub const CPC_FUTURE: usize = 2;

/// Contrastive Predictive Coding: encoder -> dense 256 ReLU -> BatchNorm -> dense 256
/// (code z); a GRU(256) over the codes of the past patches gives the context c; one linear
/// head per future step predicts that step's code.
#[derive(Module, Debug)]
pub struct Cpc {
    pub encoder: Encoder,
    code_hidden: Linear,
    code_bn: BatchNorm,
    code_out: Linear,
    context: Gru,
    predictors: Vec<Linear>,
}

impl Cpc {
    pub fn new(device: &Device) -> Self {
        let mut context = GruConfig::new(CPC_CODE, CPC_CODE, true)
            .with_initializer(glorot())
            .init(device);
        for gate in [
            &mut context.update_gate,
            &mut context.reset_gate,
            &mut context.new_gate,
        ] {
            gate.input_transform.bias = zero_bias(gate.input_transform.bias.take());
            gate.hidden_transform.bias = zero_bias(gate.hidden_transform.bias.take());
        }
        Self {
            encoder: Encoder::new(device),
            code_hidden: dense(LATENT, CPC_CODE, device),
            code_bn: batch_norm(CPC_CODE, device),
            code_out: dense(CPC_CODE, CPC_CODE, device),
            context,
            predictors: (0..CPC_FUTURE)
                .map(|_| dense(CPC_CODE, CPC_CODE, device))
                .collect(),
        }
    }

    /// Codes of patches: [n, 1, 128, 31] -> [n, 256].
    pub fn encode(&self, x: Tensor<4>) -> Tensor<2> {
        let h = relu(self.code_hidden.forward(self.encoder.forward_flat(x)));
        self.code_out.forward(self.code_bn.forward(h))
    }

    /// Context from the codes of the past patches: [b, past, 256] -> [b, 256].
    pub fn context(&self, past_codes: Tensor<3>) -> Tensor<2> {
        let [b, t, h] = past_codes.dims();
        let states = self.context.forward(past_codes, None);
        states.slice([0..b, t - 1..t, 0..h]).reshape([b, h])
    }

    /// Predicted codes of the future steps: [b, 256] -> [b, future, 256].
    pub fn predict(&self, context: Tensor<2>) -> Tensor<3> {
        let preds: Vec<Tensor<2>> = self
            .predictors
            .iter()
            .map(|p| p.forward(context.clone()))
            .collect();
        Tensor::stack(preds, 1)
    }

    /// The original's score before its sigmoid: the mean over future steps of the mean
    /// over the code dimensions of `prediction * code`. [b, future, 256] x2 -> [b] logits.
    pub fn logits(predicted: Tensor<3>, codes: Tensor<3>) -> Tensor<1> {
        let [b, _, _] = predicted.dims();
        (predicted * codes).mean_dim(2).mean_dim(1).reshape([b])
    }

    /// The original's score: the sigmoid of [`Self::logits`]. [b, future, 256] x2 -> [b]
    /// probabilities.
    pub fn score(predicted: Tensor<3>, codes: Tensor<3>) -> Tensor<1> {
        sigmoid(Self::logits(predicted, codes))
    }
}

impl RunningStats for Cpc {
    fn with_stats_mode(mut self, momentum: f64, dropout: f64) -> Self {
        self.encoder = self.encoder.with_stats_mode(momentum, dropout);
        self.code_bn.momentum = momentum;
        self
    }
}

/// Dense, ReLU, dropout.
#[derive(Module, Debug)]
pub struct DenseLayer {
    pub(crate) linear: Linear,
    dropout: Dropout,
}

impl DenseLayer {
    fn new(d_in: usize, d_out: usize, device: &Device) -> Self {
        Self {
            linear: dense(d_in, d_out, device),
            dropout: DropoutConfig::new(DROPOUT).init(),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        dropout_layer(&self.dropout, relu(self.linear.forward(x)))
    }
}

/// One task head: two dense 512 layers with dropout, then the class logits.
#[derive(Module, Debug)]
pub struct TaskHead {
    pub(crate) hidden1: DenseLayer,
    pub(crate) hidden2: DenseLayer,
    pub(crate) output: Linear,
}

impl TaskHead {
    fn new(classes: usize, device: &Device) -> Self {
        Self {
            hidden1: DenseLayer::new(HIDDEN, HIDDEN, device),
            hidden2: DenseLayer::new(HIDDEN, HIDDEN, device),
            output: dense(HIDDEN, classes, device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.output
            .forward(self.hidden2.forward(self.hidden1.forward(x)))
    }
}

/// Width of the classifier's dense layers (the original code's 512).
pub const HIDDEN: usize = 512;

/// The classifier's logits for a batch of patches.
#[derive(Debug, Clone)]
pub struct ClassifierOutput {
    /// [b, 4]: Q1..Q4
    pub quadrant: Tensor<2>,
    /// [b, 2]: negative, positive
    pub arousal: Tensor<2>,
    /// [b, 2]: negative, positive
    pub valence: Tensor<2>,
}

impl ClassifierOutput {
    /// Softmax of each head.
    pub fn probabilities(self) -> Self {
        Self {
            quadrant: softmax(self.quadrant, 1),
            arousal: softmax(self.arousal, 1),
            valence: softmax(self.valence, 1),
        }
    }
}

/// The multi-task classifier: pretrained encoder -> flatten -> three dense 512 layers with
/// dropout -> quadrant (4), arousal (2) and valence (2) heads.
#[derive(Module, Debug)]
pub struct Classifier {
    pub encoder: Encoder,
    pub(crate) dense1: DenseLayer,
    pub(crate) dense2: DenseLayer,
    pub(crate) dense3: DenseLayer,
    pub(crate) quadrant: TaskHead,
    pub(crate) arousal: TaskHead,
    pub(crate) valence: TaskHead,
}

impl Classifier {
    /// A classifier with a freshly initialised encoder.
    pub fn new(device: &Device) -> Self {
        Self::with_encoder(Encoder::new(device), device)
    }

    /// A classifier around a (pretrained) encoder; the dense layers are new.
    pub fn with_encoder(encoder: Encoder, device: &Device) -> Self {
        Self {
            encoder,
            dense1: DenseLayer::new(LATENT, HIDDEN, device),
            dense2: DenseLayer::new(HIDDEN, HIDDEN, device),
            dense3: DenseLayer::new(HIDDEN, HIDDEN, device),
            quadrant: TaskHead::new(4, device),
            arousal: TaskHead::new(2, device),
            valence: TaskHead::new(2, device),
        }
    }

    /// Logits of the three tasks for patches [b, 1, 128, 31].
    pub fn forward(&self, x: Tensor<4>) -> ClassifierOutput {
        self.forward_latent(self.encoder.forward_flat(x))
    }

    /// Logits of the three tasks from the encoder's flattened outputs [b, 7936]: what
    /// Feat. Ext. trains on, with the frozen encoder's outputs computed once.
    pub fn forward_latent(&self, h: Tensor<2>) -> ClassifierOutput {
        let h = self
            .dense3
            .forward(self.dense2.forward(self.dense1.forward(h)));
        ClassifierOutput {
            quadrant: self.quadrant.forward(h.clone()),
            arousal: self.arousal.forward(h.clone()),
            valence: self.valence.forward(h),
        }
    }
}
