//! The shapes `conv.rs` runs each convolution kernel on, chosen to sit on and around every
//! edge the kernels have (see there).

/// (input, weight, bias, stride, padding, dilation, groups)
pub(super) type Case = (
    [usize; 4],
    [usize; 4],
    bool,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    usize,
);

#[rustfmt::skip]
pub(super) const DEPTHWISE_CASES: &[Case] = &[
    // MobileNetV2's 3x3 stride 1 and 2, EfficientNet's 5x5.
    ([2, 32, 14, 14], [32, 1, 3, 3], true, [1, 1], [1, 1], [1, 1], 32),
    ([1, 16, 15, 13], [16, 1, 3, 3], true, [2, 2], [1, 1], [1, 1], 16),
    ([1, 8, 9, 9], [8, 1, 5, 5], false, [1, 1], [2, 2], [1, 1], 8),
    // Channel multiplier 2 and 3, dilation, a rectangular filter, strides per axis.
    ([1, 4, 11, 10], [8, 1, 3, 3], true, [1, 1], [2, 2], [2, 2], 4),
    ([2, 3, 7, 12], [9, 1, 3, 1], true, [1, 2], [1, 0], [1, 1], 3),
    // Mostly border: a 4x4 map under a 5x5 filter; padding beyond the filter's reach.
    ([1, 2, 4, 4], [2, 1, 5, 5], true, [1, 1], [2, 2], [1, 1], 2),
    ([1, 2, 5, 5], [2, 1, 2, 2], true, [1, 1], [3, 3], [1, 1], 2),
    // More than one 256-pixel tile; the shared filter tile full (16x16 = 256 taps).
    ([1, 2, 21, 20], [2, 1, 3, 3], true, [1, 1], [1, 1], [1, 1], 2),
    ([1, 2, 18, 17], [2, 1, 16, 16], true, [1, 1], [0, 0], [1, 1], 2),
];

/// The direct kernel's shapes (any shape runs on it): LeNet's layers, tiles, every
/// stride/padding/dilation/groups/bias combination.
pub(super) fn direct_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = vec![
        // LeNet's two convolutions, batch 2.
        (
            [2, 3, 32, 32],
            [6, 3, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [2, 6, 14, 14],
            [16, 6, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        // 1x1 conv, 1x1 image, depthwise, rectangular everything.
        ([1, 5, 6, 7], [3, 5, 1, 1], false, [1, 1], [0, 0], [1, 1], 1),
        ([3, 2, 1, 1], [4, 2, 1, 1], true, [1, 1], [0, 0], [1, 1], 1),
        ([1, 6, 9, 8], [6, 1, 3, 3], true, [2, 1], [1, 1], [1, 1], 6),
        (
            [1, 4, 11, 13],
            [6, 2, 3, 2],
            true,
            [1, 3],
            [2, 0],
            [2, 1],
            2,
        ),
        // Reductions longer than the 1024-float shared tile, split in the middle of a filter.
        (
            [1, 128, 6, 6],
            [4, 128, 3, 3],
            true,
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        ),
        (
            [1, 9, 13, 12],
            [2, 9, 11, 11],
            false,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        // More output pixels than one 256-thread tile; padding larger than the kernel's reach.
        (
            [1, 1, 40, 33],
            [2, 1, 2, 3],
            true,
            [1, 1],
            [3, 3],
            [1, 1],
            1,
        ),
    ];
    // Every stride/padding/dilation/groups/bias combination on an odd-sized input.
    for s in [1, 2] {
        for pd in [0, 1] {
            for d in [1, 2] {
                for g in [1, 2] {
                    for bias in [false, true] {
                        cases.push((
                            [1, 4, 7, 9],
                            [4, 4 / g, 3, 2],
                            bias,
                            [s, s],
                            [pd, pd],
                            [d, d],
                            g,
                        ));
                    }
                }
            }
        }
    }
    cases
}

#[rustfmt::skip]
pub(super) const IGEMM_CASES: &[Case] = &[
    // A ResNet stage: 3x3, pad 1, K = 576 (72 steps), 392 pixels over 2 images.
    ([2, 64, 14, 14], [64, 64, 3, 3], true, [1, 1], [1, 1], [1, 1], 1),
    // K = 45 (not a multiple of 8), stride 2, 40 channels (a partial row tile).
    ([1, 5, 9, 11], [40, 5, 3, 3], true, [2, 2], [1, 1], [1, 1], 1),
    // 1x1, 130 channels (two row tiles, the second 2 wide), 126 pixels over 3 images.
    ([3, 8, 7, 6], [130, 8, 1, 1], false, [1, 1], [0, 0], [1, 1], 1),
    // 128 and 129 channels; K = 7 and 9.
    ([1, 7, 9, 15], [128, 7, 1, 1], true, [1, 1], [0, 0], [1, 1], 1),
    ([1, 1, 16, 8], [129, 1, 3, 3], true, [1, 1], [1, 1], [1, 1], 1),
    // Two groups of 32 channels, dilation 2.
    ([2, 16, 10, 10], [64, 8, 3, 3], true, [1, 1], [2, 2], [2, 2], 2),
    // Rectangular everything, two groups of 33.
    ([2, 6, 11, 13], [66, 3, 3, 2], true, [1, 3], [2, 0], [2, 1], 2),
    // Kernel sizes 5 and 7; 1296 pixels (11 tiles, the last partial).
    ([1, 3, 40, 40], [32, 3, 5, 5], false, [1, 1], [0, 0], [1, 1], 1),
    ([1, 4, 12, 12], [32, 4, 7, 7], true, [1, 1], [3, 3], [1, 1], 1),
    // K = 1 (one channel, 1x1), padding wider than the kernel's reach.
    ([1, 1, 5, 5], [32, 1, 1, 1], true, [1, 1], [2, 2], [1, 1], 1),
    // A shape the host gives the direct kernel (6 channels): the implicit GEMM is right anyway.
    ([2, 3, 32, 32], [6, 3, 5, 5], true, [1, 1], [0, 0], [1, 1], 1),
];

/// Square k x k filters for conv2d_small{k}_f32.
pub(super) fn small_cases(k: usize) -> Vec<Case> {
    let mut cases: Vec<Case> = vec![
        // Channel blocks: 1, 6 (the Net's conv1), 8, 9, 16, 31 output channels.
        (
            [2, 3, 12, 12],
            [1, 3, k, k],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [2, 3, 13, 11],
            [6, 3, k, k],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [1, 2, 9, 10],
            [8, 2, k, k],
            false,
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        ),
        ([1, 2, 9, 10], [9, 2, k, k], true, [2, 2], [2, 1], [1, 1], 1),
        (
            [3, 6, 14, 14],
            [16, 6, k, k],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [1, 1, 8, 8],
            [31, 1, k, k],
            true,
            [1, 1],
            [k / 2, k / 2],
            [1, 1],
            1,
        ),
        // Dilation, a stride per axis, padding beyond the filter's reach; more than one
        // 256-pixel tile (a 21x21 output plus one row).
        (
            [1, 2, 15, 17],
            [7, 2, k, k],
            true,
            [1, 2],
            [3, 1],
            [2, 1],
            1,
        ),
        // Column dilation (the interior path without the unit column step), interior pixels
        // in every row.
        (
            [2, 3, 2 * k + 3, 3 * k + 4],
            [9, 3, k, k],
            true,
            [1, 1],
            [0, 1],
            [1, 2],
            1,
        ),
        (
            [1, 1, 22 + k, 21 + k],
            [3, 1, k, k],
            false,
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        ),
    ];
    // The shared filter tile full: C_in*k*k up to 512 taps.
    cases.push((
        [1, 512 / (k * k), 6, 7],
        [5, 512 / (k * k), k, k],
        true,
        [1, 1],
        [1, 1],
        [1, 1],
        1,
    ));
    cases
}
