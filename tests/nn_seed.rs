//! `nn::manual_seed`: layers built without an explicit `Init` draw from one process-wide
//! stream, so a model is reproducible from the seed and the order of construction. Its own
//! test binary: no other test may draw from the stream meanwhile.

use tensorport::nn::{manual_seed, Conv2d, Linear};

#[test]
fn the_same_seed_builds_the_same_model() {
    let build = || {
        let c = Conv2d::new(2, 3, 3)
            .unwrap()
            .weight
            .to_vec::<f32>()
            .unwrap();
        let l = Linear::new(4, 5).unwrap().weight.to_vec::<f32>().unwrap();
        (c, l)
    };
    manual_seed(7);
    let a = build();
    manual_seed(7);
    let b = build();
    assert_eq!(a, b);
    // Consecutive layers get different streams, and another seed other weights.
    assert_ne!(a.0[..9], a.1[..9]);
    manual_seed(8);
    assert_ne!(build(), a);
}
