//! The encoder's 3x3 "same" convolution (stride 1, padding 1) as one operation of our own,
//! so that burn's CPU backend runs it with [`kernel`] (im2col rows as contiguous slices,
//! one matrix product per tile) and trains it with that kernel's backward pass, while the
//! GPU backends keep burn's own convolution.
//!
//! It plugs in through burn's backend extension: [`Conv3x3Backend`] is implemented for
//! `Flex` (the kernels here), for every cubecl runtime (`Cube`: wgpu, CUDA; its default
//! bodies are burn's `conv2d` and its backward functions) and for `Autodiff` (the backward
//! pass below, calling the inner backend's two gradient operations). [`conv3x3`] is the
//! `Tensor` front the networks call.

pub mod kernel;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, backend_extension};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

/// The convolution's settings in burn's terms: stride 1, padding 1, no dilation, no groups.
fn options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// A 3x3 "same" convolution with bias, and its two gradients.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    Cube: cfg(any(feature = "wgpu", feature = "cuda")),
    Autodiff: cfg(feature = "train"),
)]
pub trait Conv3x3Backend: Backend {
    /// `x [b, c_in, h, w]`, `weight [c_out, c_in, 3, 3]`, `bias [c_out]` -> `[b, c_out, h, w]`.
    fn conv3x3(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options())
    }

    /// The gradient of the input `x` from the output's `grad`.
    fn conv3x3_input_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::conv2d_x_backward(x, weight, grad, options())
    }

    /// The gradients of the kernel and of the bias from the output's `grad`.
    fn conv3x3_weight_grad(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let weight_grad = Self::conv2d_weight_backward(x.clone(), weight, grad.clone(), options());
        (weight_grad, Self::conv2d_bias_backward(x, bias, grad))
    }
}

#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl Conv3x3Backend for burn::backend::Cube {}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::Flex;
    use burn::backend::TensorMetadata;
    use burn::backend::flex::FlexTensor;
    use burn::backend::tensor::FloatTensor;
    use burn::tensor::{DType, TensorData};

    use super::Conv3x3Backend;
    use super::kernel::{self, Geometry};

    /// The tensor's values as contiguous f32 (copied only when they are not already).
    fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
        assert_eq!(t.dtype(), DType::F32, "conv3x3 runs on f32 tensors");
        match t.as_slice::<f32>() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(t.to_contiguous().storage::<f32>().to_vec()),
        }
    }

    fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
    }

    fn geometry(x: &FlexTensor, c_out: usize) -> Geometry {
        let [batch, c_in, height, width]: [usize; 4] = x.shape().dims();
        Geometry {
            batch,
            c_in,
            c_out,
            height,
            width,
        }
    }

    impl Conv3x3Backend for Flex {
        fn conv3x3(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let geo = geometry(&x, weight.shape()[0]);
            let y = kernel::forward(&values(&x), &values(&weight), Some(&values(&bias)), &geo);
            tensor(y, &[geo.batch, geo.c_out, geo.height, geo.width])
        }

        fn conv3x3_input_grad(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            let geo = geometry(&x, weight.shape()[0]);
            let dx = kernel::input_grad(&values(&grad), &values(&weight), &geo);
            tensor(dx, &[geo.batch, geo.c_in, geo.height, geo.width])
        }

        fn conv3x3_weight_grad(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            _bias: FloatTensor<Self>,
            grad: FloatTensor<Self>,
        ) -> (FloatTensor<Self>, FloatTensor<Self>) {
            let geo = geometry(&x, weight.shape()[0]);
            let (dw, db) = kernel::weight_grad(&values(&x), &values(&grad), &geo);
            (
                tensor(dw, &[geo.c_out, geo.c_in, 3, 3]),
                tensor(db, &[geo.c_out]),
            )
        }
    }
}

#[cfg(feature = "train")]
mod autodiff {
    use burn::backend::Backend;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::autodiff::{Autodiff, NodeId};
    use burn::backend::tensor::FloatTensor;

    use super::Conv3x3Backend;

    #[derive(Debug)]
    struct Conv3x3Backward;

    impl<B: Backend + Conv3x3Backend> Backward<B, 3> for Conv3x3Backward {
        type State = (NodeId, NodeId, NodeId);

        fn backward(
            self,
            ops: Ops<Self::State, 3>,
            grads: &mut Gradients,
            checkpointer: &mut Checkpointer,
        ) {
            let [node_x, node_weight, node_bias] = ops.parents;
            let grad = grads.consume::<B>(&ops.node);
            let (x, weight, bias) = ops.state;
            let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x);
            let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight);
            let bias = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(bias);
            if let Some(node) = node_x {
                let dx = B::conv3x3_input_grad(x.clone(), weight.clone(), grad.clone());
                grads.register::<B>(node.id, dx);
            }
            if node_weight.is_some() || node_bias.is_some() {
                let (dw, db) = B::conv3x3_weight_grad(x, weight, bias, grad);
                if let Some(node) = node_weight {
                    grads.register::<B>(node.id, dw);
                }
                if let Some(node) = node_bias {
                    grads.register::<B>(node.id, db);
                }
            }
        }
    }

    impl<B: Backend + Conv3x3Backend, C: CheckpointStrategy> Conv3x3Backend for Autodiff<B, C> {
        fn conv3x3(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: FloatTensor<Self>,
        ) -> FloatTensor<Self> {
            match Conv3x3Backward
                .prepare::<C>([x.node(), weight.node(), bias.node()])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(mut prep) => {
                    let state = (
                        prep.checkpoint(&x),
                        prep.checkpoint(&weight),
                        prep.checkpoint(&bias),
                    );
                    prep.finish(
                        state,
                        B::conv3x3(
                            x.into_primitive(),
                            weight.into_primitive(),
                            bias.into_primitive(),
                        ),
                    )
                }
                OpsKind::UnTracked(prep) => prep.finish(B::conv3x3(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                )),
            }
        }
        // The two gradient operations keep their default bodies (burn's own, tracked): the
        // backward pass above calls the inner backend's instead.
    }
}

/// The 3x3 "same" convolution of `x [b, c_in, h, w]` with `weight [c_out, c_in, 3, 3]` and
/// `bias [c_out]`, on any device; the same values as burn's `conv2d` with padding 1.
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as Conv3x3Backend>::conv3x3(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
    ))
}

/// A burn `Conv2d` layer (3x3, "same" padding, with its bias) run through [`conv3x3`]: the
/// layer keeps its parameters and record, only the computation is ours.
pub fn conv2d_layer(layer: &burn::nn::conv::Conv2d, x: Tensor<4>) -> Tensor<4> {
    debug_assert_eq!(layer.kernel_size, [3, 3], "conv3x3 runs 3x3 kernels");
    let weight = layer.weight.val();
    let bias = bias_or_zeros(layer.bias.as_ref(), weight.dims()[0], &weight.device());
    conv3x3(x, weight, bias)
}

/// A burn `ConvTranspose2d` layer (3x3, stride 1, padding 1) run through [`conv3x3`]: a
/// transposed convolution with these settings is the convolution with the kernel's
/// channels swapped and its taps flipped (`[c_in, c_out, kh, kw]` -> `[c_out, c_in, 2 - kh,
/// 2 - kw]`), done here with tensor operations so that autodiff carries it.
pub fn conv_transpose2d_layer(layer: &burn::nn::conv::ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    debug_assert_eq!(layer.kernel_size, [3, 3], "conv3x3 runs 3x3 kernels");
    let weight = layer.weight.val().permute([1, 0, 2, 3]).flip([2, 3]);
    let bias = bias_or_zeros(layer.bias.as_ref(), weight.dims()[0], &weight.device());
    conv3x3(x, weight, bias)
}

fn bias_or_zeros(
    bias: Option<&burn::module::Param<Tensor<1>>>,
    channels: usize,
    device: &Device,
) -> Tensor<1> {
    bias.map_or_else(|| Tensor::zeros([channels], device), |b| b.val())
}
