//! `mer::conv::conv3x3` against burn's own `conv2d` (padding 1) on burn's CPU backend: the
//! same values forward, and the same gradients of the input, the kernel and the bias
//! through autodiff.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use mer::conv::conv3x3;

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
    use burn::nn::conv::ConvTranspose2dConfig;
    use mer::conv::{conv_transpose2d_layer, conv2d_layer};
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
