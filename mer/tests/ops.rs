//! `mer::ops` against burn's own `conv2d` (padding 1), `max_pool2d` and `relu` +
//! `BatchNorm` on the CPU backend: the same values forward, and the same gradients of the
//! input and the parameters through autodiff.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use mer::ops::conv3x3;

/// The CPU backend's random generator is one for the whole process: a test that seeds it
/// and draws from it holds this lock, so that tests running beside it do not draw in
/// between.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn close(a: Tensor<4>, b: Tensor<4>, what: &str) {
    let (a, b) = (
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap(),
    );
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst <= 1e-5 * (1.0 + scale),
        "{what}: max |diff| {worst}, scale {scale}"
    );
}

/// (batch, c_in, c_out, height, width), from the encoder's layers and odd sizes.
const SHAPES: [[usize; 5]; 4] = [
    [3, 1, 32, 128, 31],
    [2, 32, 64, 32, 31],
    [4, 64, 16, 8, 31],
    [1, 3, 5, 7, 2],
];

#[test]
fn forward_matches_burn() {
    let _rng = rng_lock();
    let device = Device::flex();
    device.seed(1);
    for [b, ci, co, h, w] in SHAPES {
        let conv = Conv2dConfig::new([ci, co], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&device);
        let x = Tensor::<4>::random([b, ci, h, w], Distribution::Normal(0.0, 1.0), &device);
        let ours = conv3x3(
            x.clone(),
            conv.weight.val(),
            conv.bias.as_ref().unwrap().val(),
        );
        close(ours, conv.forward(x), "forward");
    }
}

#[test]
fn gradients_match_burn() {
    let _rng = rng_lock();
    let device = Device::flex().autodiff();
    device.seed(2);
    for [b, ci, co, h, w] in SHAPES {
        let conv = Conv2dConfig::new([ci, co], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&device);
        let x = Tensor::<4>::random([b, ci, h, w], Distribution::Normal(0.0, 1.0), &device);
        let target = Tensor::<4>::random([b, co, h, w], Distribution::Normal(0.0, 1.0), &device);
        let run = |ours: bool| {
            let x = Param::from_tensor(x.clone()).val();
            let (weight, bias) = (conv.weight.val(), conv.bias.as_ref().unwrap().val());
            let y = if ours {
                conv3x3(x.clone(), weight.clone(), bias.clone())
            } else {
                conv.forward(x.clone())
            };
            let grads = (y * target.clone()).sum().backward();
            (
                x.grad(&grads).unwrap(),
                weight.grad(&grads).unwrap(),
                bias.grad(&grads).unwrap(),
            )
        };
        let (ours, theirs) = (run(true), run(false));
        close(ours.0, theirs.0, "input gradient");
        close(ours.1, theirs.1, "kernel gradient");
        let (a, b) = (
            ours.2.into_data().try_to_vec::<f32>().unwrap(),
            theirs.2.into_data().try_to_vec::<f32>().unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                "bias gradient: {x} vs {y}"
            );
        }
    }
}

#[test]
fn layers_match_burn() {
    let _rng = rng_lock();
    use burn::nn::conv::ConvTranspose2dConfig;
    use mer::ops::{conv_transpose2d_layer, conv2d_layer};
    let device = Device::flex();
    device.seed(3);
    let x = Tensor::<4>::random([2, 6, 16, 31], Distribution::Normal(0.0, 1.0), &device);
    let conv = Conv2dConfig::new([6, 5], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    close(
        conv2d_layer(&conv, x.clone()),
        conv.forward(x.clone()),
        "Conv2d",
    );
    let deconv = ConvTranspose2dConfig::new([6, 5], [3, 3])
        .with_padding([1, 1])
        .init(&device);
    close(
        conv_transpose2d_layer(&deconv, x.clone()),
        deconv.forward(x),
        "ConvTranspose2d",
    );
}

#[test]
fn max_pool_matches_burn() {
    let _rng = rng_lock();
    use burn::nn::pool::MaxPool2dConfig;
    use mer::ops::max_pool_layer;
    let device = Device::flex().autodiff();
    device.seed(4);
    for (k, h) in [(4, 128), (2, 8), (4, 7)] {
        let pool = MaxPool2dConfig::new([k, 1]).init();
        let x = Tensor::<4>::random([3, 5, h, 31], Distribution::Normal(0.0, 1.0), &device);
        let target =
            Tensor::<4>::random([3, 5, h / k, 31], Distribution::Normal(0.0, 1.0), &device);
        let run = |ours: bool| {
            let x = Param::from_tensor(x.clone()).val();
            let y = if ours {
                max_pool_layer(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let grads = (y.clone() * target.clone()).sum().backward();
            (y, x.grad(&grads).unwrap())
        };
        let (ours, theirs) = (run(true), run(false));
        close(ours.0.inner(), theirs.0.inner(), "max-pool");
        close(ours.1, theirs.1, "max-pool gradient");
    }
}

/// Off autodiff the convolution, its ReLU and the BatchNorm (running statistics) run as one
/// operation: the same values as the three burn layers.
#[test]
fn fused_inference_matches_the_layers() {
    let _rng = rng_lock();
    use burn::module::RunningState;
    use burn::nn::BatchNormConfig;
    use burn::tensor::activation::relu;
    use mer::ops::conv_relu_batch_norm;
    let device = Device::flex();
    device.seed(5);
    let conv = Conv2dConfig::new([6, 8], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    let mut bn = BatchNormConfig::new(8).with_epsilon(1e-3).init(&device);
    let stats = |lo: f64, hi: f64| Tensor::<1>::random([8], Distribution::Uniform(lo, hi), &device);
    bn.gamma = Param::from_tensor(stats(0.5, 2.0));
    bn.beta = Param::from_tensor(stats(-1.0, 1.0));
    bn.running_mean = RunningState::new(stats(-0.5, 0.5));
    bn.running_var = RunningState::new(stats(0.1, 3.0));
    let x = Tensor::<4>::random([3, 6, 16, 31], Distribution::Normal(0.0, 1.0), &device);
    let expected = bn.forward(relu(conv.forward(x.clone())));
    close(
        conv_relu_batch_norm(&conv, &bn, x),
        expected,
        "conv + ReLU + BatchNorm",
    );
}

/// The kernels compute in f32; a half-precision tensor comes back in half precision, with
/// the values of burn's own convolution (within f16's precision).
#[test]
fn half_precision_round_trips() {
    let _rng = rng_lock();
    use burn::tensor::{DType, FloatDType};
    use mer::ops::conv2d_layer;
    let device = Device::flex();
    device.seed(6);
    let conv = Conv2dConfig::new([4, 6], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    let x = Tensor::<4>::random([2, 4, 16, 31], Distribution::Normal(0.0, 1.0), &device);
    let ours = conv2d_layer(&conv, x.clone().cast(FloatDType::F16));
    assert_eq!(ours.dtype(), DType::F16);
    let (a, b) = (
        ours.cast(FloatDType::F32)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(),
        conv.forward(x).into_data().try_to_vec::<f32>().unwrap(),
    );
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-2 * (1.0 + y.abs()), "{x} vs {y}");
    }
}

/// Layers the operations do not cover go through burn's own forward pass.
#[test]
fn other_layers_fall_back_to_burn() {
    let _rng = rng_lock();
    use burn::nn::pool::MaxPool2dConfig;
    use mer::ops::conv2d_layer;
    use mer::ops::max_pool_layer;
    let device = Device::flex();
    device.seed(7);
    let x = Tensor::<4>::random([2, 3, 12, 9], Distribution::Normal(0.0, 1.0), &device);
    let wide = Conv2dConfig::new([3, 4], [5, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&device);
    close(
        conv2d_layer(&wide, x.clone()),
        wide.forward(x.clone()),
        "5x3 convolution",
    );
    let strided = Conv2dConfig::new([3, 4], [3, 3])
        .with_stride([2, 1])
        .init(&device);
    close(
        conv2d_layer(&strided, x.clone()),
        strided.forward(x.clone()),
        "strided convolution",
    );
    let square = MaxPool2dConfig::new([2, 2]).init();
    close(
        max_pool_layer(&square, x.clone()),
        square.forward(x.clone()),
        "2x2 pooling",
    );
    let overlapping = MaxPool2dConfig::new([3, 1]).with_strides([1, 1]).init();
    close(
        max_pool_layer(&overlapping, x.clone()),
        overlapping.forward(x),
        "overlapping pooling",
    );
}

/// On a GPU backend (wgpu; Mesa's lavapipe without a GPU) the operations are burn's own,
/// forward and backward through our autodiff wrapper: the same values and gradients as on
/// the CPU with our kernels.
#[cfg(feature = "wgpu")]
/// Training BatchNorm of a ReLU: output, gradients of the input, gamma and beta, and the
/// running statistics after two steps, against burn's `relu` then `BatchNorm::forward`;
/// also where the activation's mean is 50 times its spread (variances computed from
/// sums of squares would cancel there).
#[test]
fn relu_batch_norm_trains_like_burn() {
    let _rng = rng_lock();
    use burn::nn::BatchNormConfig;
    use mer::ops::relu_batch_norm;
    let device = Device::flex().autodiff();
    device.seed(9);
    for ([b, c, h, w], offset) in [
        ([4, 32, 32, 31], 0.0),
        ([3, 5, 7, 2], 0.0),
        ([2, 8, 16, 31], 50.0),
    ] {
        let gamma = Tensor::<1>::random([c], Distribution::Normal(1.0, 0.5), &device);
        let beta = Tensor::<1>::random([c], Distribution::Normal(0.0, 0.5), &device);
        let x = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &device)
            .add_scalar(offset);
        let target = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &device);
        let run = |ours: bool| {
            // A layer of its own: clones share their running statistics.
            let mut bn = BatchNormConfig::new(c).with_momentum(0.3).init(&device);
            bn.gamma = Param::from_tensor(gamma.clone());
            bn.beta = Param::from_tensor(beta.clone());
            let x = Param::from_tensor(x.clone()).val();
            let forward = |bn: &burn::nn::BatchNorm, x: Tensor<4>| {
                if ours {
                    relu_batch_norm(bn, x)
                } else {
                    bn.forward(burn::tensor::activation::relu(x))
                }
            };
            let y = forward(&bn, x.clone());
            let grads = (y.clone() * target.clone()).sum().backward();
            let dx = x.grad(&grads).unwrap();
            let dgamma = bn.gamma.val().grad(&grads).unwrap();
            let dbeta = bn.beta.val().grad(&grads).unwrap();
            // A second batch: the running statistics blend both.
            let _ = forward(&bn, x.clone().mul_scalar(0.5));
            let stats = Tensor::cat(vec![bn.running_mean.value(), bn.running_var.value()], 0);
            (y, dx, Tensor::cat(vec![dgamma, dbeta, stats], 0))
        };
        let (ours, theirs) = (run(true), run(false));
        close(ours.0, theirs.0, "output");
        close(ours.1, theirs.1, "input gradient");
        let (a, b) = (
            ours.2.into_data().try_to_vec::<f32>().unwrap(),
            theirs.2.into_data().try_to_vec::<f32>().unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!(
                (x - y).abs() <= 2e-3 * (1.0 + y.abs()),
                "gamma / beta gradients, running statistics (offset {offset}): {x} vs {y}"
            );
        }
    }
}

/// Dropout in training: `x` times a mask of 0 and `1 / (1 - p)` keeping about `1 - p`
/// of the values, whose gradient is the same mask; the same mask again after the same
/// seed; the identity off autodiff, at probability 0, or with the layer's training off.
#[test]
fn dropout_trains_like_burn() {
    let _rng = rng_lock();
    use burn::nn::DropoutConfig;
    use mer::ops::dropout_layer;
    let device = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.25).init();
    let x = Tensor::<4>::random([8, 16, 32, 31], Distribution::Uniform(1.0, 2.0), &device);
    let run = |seed: u64| {
        device.seed(seed);
        let x = Param::from_tensor(x.clone()).val();
        let y = dropout_layer(&layer, x.clone());
        let grads = y.clone().sum().backward();
        let dx = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        (y.into_data().try_to_vec::<f32>().unwrap(), dx)
    };
    let (y, dx) = run(5);
    let xs = x.clone().into_data().try_to_vec::<f32>().unwrap();
    let scale = 1.0 / 0.75f32;
    let mut kept = 0usize;
    for ((&y, &g), &x) in y.iter().zip(&dx).zip(&xs) {
        if y == 0.0 {
            assert_eq!(g, 0.0);
        } else {
            kept += 1;
            assert!(
                (y - x * scale).abs() <= 1e-6 * y.abs() && g == scale,
                "{y} {g} {x}"
            );
        }
    }
    let share = kept as f64 / y.len() as f64;
    assert!((share - 0.75).abs() < 0.01, "kept {share}");
    assert_eq!(run(5).0, y, "the same seed, the same mask");
    assert_ne!(run(6).0, y, "another seed, another mask");
    // Dense layers' rank too.
    let flat = Tensor::<2>::random([32, 512], Distribution::Uniform(1.0, 2.0), &device);
    let zeros = dropout_layer(&layer, flat)
        .equal_elem(0.0)
        .int()
        .sum()
        .into_scalar::<i64>();
    assert!((2_000..6_200).contains(&zeros), "{zeros} of 16 384 dropped");
    // Where burn's Dropout is the identity, so is this.
    let cpu = Device::flex();
    let plain = Tensor::<4>::from_data(x.clone().into_data(), &cpu);
    let same = |y: Tensor<4>| y.into_data().try_to_vec::<f32>().unwrap() == xs;
    assert!(same(dropout_layer(&layer, plain)));
    assert!(same(dropout_layer(
        &DropoutConfig::new(0.0).init(),
        x.clone()
    )));
    let frozen = layer.clone().freeze();
    assert!(same(dropout_layer(&frozen, x.clone())));
}

#[test]
fn wgpu_matches_the_cpu_kernels() {
    let _rng = rng_lock();
    use burn::nn::BatchNormConfig;
    use mer::ops::{conv_relu_batch_norm, conv3x3, max_pool_mel};
    // Lazily: another test of this process may have brought the default wgpu device up
    // already (burn loads an optimizer's record onto the default device, which is wgpu
    // in a build with that feature), and it can be initialised only once.
    let gpu = Device::wgpu(DeviceKind::DefaultDevice);
    let cpu = Device::flex();
    cpu.seed(8);
    let conv = Conv2dConfig::new([3, 8], [3, 3])
        .with_padding(PaddingConfig2d::Same)
        .init(&cpu);
    let bn = BatchNormConfig::new(8).init(&cpu);
    let normal = |dims: [usize; 4]| Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &cpu);
    let (x, w1, w2) = (
        normal([2, 3, 16, 31]),
        normal([8, 3, 3, 3]),
        normal([2, 8, 3, 3]),
    );
    let (b1, b2) = (Tensor::<1>::ones([8], &cpu), Tensor::<1>::zeros([2], &cpu));
    let target = normal([2, 2, 4, 31]);
    // off autodiff: the convolution + ReLU + BatchNorm of inference
    let fused = |device: &Device| {
        let (conv, bn) = (conv.clone().to_device(device), bn.clone().to_device(device));
        conv_relu_batch_norm(&conv, &bn, x.clone().to_device(device)).to_device(&cpu)
    };
    close(fused(&gpu), fused(&cpu), "conv + ReLU + BatchNorm on wgpu");
    // a training step's gradients through convolution, pooling, convolution
    let grads = |device: &Device| {
        let leaf = |t: &Tensor<4>| t.clone().to_device(device).autodiff().require_grad();
        let (x, w1, w2) = (leaf(&x), leaf(&w1), leaf(&w2));
        let bias = |b: &Tensor<1>| b.clone().to_device(device).autodiff();
        let y = max_pool_mel(conv3x3(x.clone(), w1.clone(), bias(&b1)), 4);
        let y = conv3x3(y, w2.clone(), bias(&b2));
        let g = (y * target.clone().to_device(device).autodiff())
            .sum()
            .backward();
        let of = |t: Tensor<4>| t.grad(&g).unwrap().to_device(&cpu);
        (of(x), of(w1), of(w2))
    };
    let (g, c) = (grads(&gpu), grads(&cpu));
    close(g.0, c.0, "input gradient on wgpu");
    close(g.1, c.1, "first kernel's gradient on wgpu");
    close(g.2, c.2, "second kernel's gradient on wgpu");
}

/// `mer::optim`'s Adam with AMSGrad takes burn's steps (AMSGrad, no weight decay) to the
/// bit, and its records are burn's: a run checkpointed with one optimizer resumes with the
/// other and lands on the same weights.
#[test]
fn amsgrad_steps_like_burn() {
    let _rng = rng_lock();
    use burn::nn::conv::Conv2d;
    use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
    use mer::optim::AmsgradConfig;
    let device = Device::flex().autodiff();
    device.seed(11);
    let conv = Conv2dConfig::new([3, 4], [3, 3]).init(&device);
    let x = Tensor::<4>::random([2, 3, 6, 5], Distribution::Normal(0.0, 1.0), &device);
    let train = |mut model: Conv2d, mut optim: ModuleOptimizer, steps: std::ops::Range<usize>| {
        for i in steps {
            let y = model.forward(x.clone().mul_scalar(1.0 + i as f64 * 0.1));
            let loss = (y.clone() * y).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-2 / (1 + i) as f64, model, grads);
        }
        (model, optim)
    };
    let theirs = || {
        AdamConfig::new()
            .with_amsgrad(true)
            .with_epsilon(1e-7)
            .init()
    };
    let ours = || AmsgradConfig::new().init();
    let weights = |m: &Conv2d| {
        let mut v = m.weight.val().into_data().try_to_vec::<f32>().unwrap();
        v.extend(
            m.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap(),
        );
        v
    };
    let start = weights(&conv);
    let expected = weights(&train(conv.clone(), theirs(), 0..6).0);
    assert!(
        expected.iter().zip(&start).any(|(a, b)| a != b),
        "the steps changed nothing"
    );
    assert_eq!(weights(&train(conv.clone(), ours(), 0..6).0), expected);
    let (half, optim) = train(conv.clone(), ours(), 0..3);
    let resumed = train(half, theirs().load_record(optim.to_record()), 3..6).0;
    assert_eq!(
        weights(&resumed),
        expected,
        "ours, then burn's from our record"
    );
    let (half, optim) = train(conv.clone(), theirs(), 0..3);
    let resumed = train(half, ours().load_record(optim.to_record()), 3..6).0;
    assert_eq!(
        weights(&resumed),
        expected,
        "burn's, then ours from its record"
    );
}

/// The CPU kernel of the AMSGrad step against the operation's default body (burn's tensor
/// operations, which the GPU backends run), here on the autodiff backend, whose
/// implementation keeps the default.
#[test]
fn amsgrad_kernel_matches_the_tensor_operations() {
    let _rng = rng_lock();
    use burn::backend::Dispatch;
    use mer::ops::EncoderOps;
    use mer::ops::adam::Amsgrad;
    let run = |device: &Device, time: usize| {
        device.seed(12);
        let t = |mean: f64, std: f64| {
            Tensor::<2>::random([70, 1000], Distribution::Normal(mean, std), device).into_dispatch()
        };
        let (param, grad, m1) = (t(0.0, 1.0), t(0.0, 0.1), t(0.0, 0.01));
        let m2 = Tensor::<2>::from_dispatch(t(0.0, 1e-3)).powi_scalar(2);
        let max = Tensor::<2>::from_dispatch(t(0.0, 1e-3)).powi_scalar(2);
        let step = Amsgrad::at(0.9, 0.999, 1e-7, 1e-3, time);
        let (p, m1, m2, max) = <Dispatch as EncoderOps>::amsgrad_step(
            param,
            grad,
            m1,
            m2.into_dispatch(),
            max.into_dispatch(),
            step,
        );
        [p, m1, m2, max].map(|t| {
            Tensor::<2>::from_dispatch(t)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        })
    };
    // The first step (moments start from the gradient) and a later one.
    for time in [1, 7] {
        let (kernel, default) = (
            run(&Device::flex(), time),
            run(&Device::flex().autodiff(), time),
        );
        for (i, (a, b)) in kernel.iter().zip(&default).enumerate() {
            assert_eq!(
                a, b,
                "step {time}, output {i} (parameter, moment 1, moment 2, max moment 2)"
            );
        }
    }
}
