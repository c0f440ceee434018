//! Real models as `torch.export` programs: torchvision's twelve CNNs (random init, 64x64
//! inputs) and the CREPE pitch models with their trained weights, made by
//! `tests/fixtures/pt2/gen_models.py` into a cache (`.ci/run` fills it; set
//! `TENSORPORT_PT2_CACHE` to use another). Each runs on the CPU and on a GPU (a real one, or
//! the driver double), within the whole-model rule against torch's float64 forward; CREPE's
//! answer is also checked against the truth: the pitch of sine tones, within 10 cents.

#[macro_use]
mod common;

use std::path::PathBuf;

use tensorport::graph::Program;
use tensorport::{load, Device, MapLocation, Tensor};

fn cache() -> Option<PathBuf> {
    let dir = std::env::var_os("TENSORPORT_PT2_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tensorport/pt2-models"))
        })?;
    if dir.join("resnet18.pt2").is_file() {
        return Some(dir);
    }
    let required = std::env::var("TENSORPORT_REQUIRE_TORCH").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "TENSORPORT_REQUIRE_TORCH=1 but no exported models in {}",
        dir.display()
    );
    common::skip_notice(&format!(
        "real models: no exports in {} (run tests/fixtures/pt2/gen_models.py --out DIR)",
        dir.display()
    ));
    None
}

struct Io {
    x: Tensor,
    y32: Vec<f32>,
    y64: Vec<f64>,
    hz: Option<Vec<f32>>,
}

fn io(dir: &std::path::Path, name: &str) -> Io {
    let ck = load(dir.join(format!("{name}_io.pt")), &MapLocation::Keep).expect("io");
    let d = ck.value().as_dict().expect("dict");
    let t = |k: &str| d.get_str(k).and_then(|v| v.as_tensor()).cloned();
    Io {
        x: t("x").expect("x"),
        y32: t("y32").expect("y32").to_vec::<f32>().expect("f32"),
        y64: t("y64").expect("y64").to_vec::<f64>().expect("f64"),
        hz: t("hz").map(|h| h.to_vec::<f32>().expect("f32")),
    }
}

/// CREPE's pitch for each frame: torchcrepe's weighted argmax (the probability-weighted mean
/// of the cents of the 9 bins around the peak), in Hz.
fn pitch_hz(probs: &[f32]) -> Vec<f64> {
    probs
        .chunks(360)
        .map(|row| {
            let peak = (0..360).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            let (lo, hi) = (peak.saturating_sub(4), (peak + 5).min(360));
            let (mut num, mut den) = (0f64, 0f64);
            for (i, &p) in row.iter().enumerate().take(hi).skip(lo) {
                let cents = 20.0 * i as f64 + 1_997.379_408_437_62;
                num += f64::from(p) * cents;
                den += f64::from(p);
            }
            10.0 * 2f64.powf(num / den / 1200.0)
        })
        .collect()
}

fn run(name: &str, dev: &Device) {
    let Some(dir) = cache() else { return };
    let path = dir.join(format!("{name}.pt2"));
    let p = Program::load(&path, &MapLocation::To(*dev)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let io = io(&dir, name);
    let out = p
        .run(std::slice::from_ref(&io.x))
        .unwrap_or_else(|e| panic!("{name} on {dev}: {e}"));
    let ours = out[0]
        .to(&Device::Cpu)
        .expect("host")
        .to_vec::<f32>()
        .expect("f32");
    let worst = common::rule::assert_rule(name, &ours, &io.y32, &io.y64);
    println!("{name} on {dev}: worst error / torch's float32 error = {worst:.2}");
    if let Some(hz) = &io.hz {
        for (got, want) in pitch_hz(&ours).iter().zip(hz) {
            let cents = 1200.0 * (got / f64::from(*want)).log2();
            assert!(
                cents.abs() <= 10.0,
                "{name} on {dev}: {want} Hz decoded as {got:.2} Hz ({cents:+.1} cents)"
            );
            println!("  {want} Hz -> {got:.2} Hz ({cents:+.2} cents)");
        }
    }
}

macro_rules! model_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn cpu() {
                    super::run(stringify!($name), &tensorport::Device::Cpu);
                }
                #[test]
                fn cuda() {
                    for dev in $crate::common::devices::gpus(module_path!()) {
                        super::run(stringify!($name), &dev);
                    }
                }
            }
        )*
    };
}

model_tests!(
    alexnet,
    vgg11_bn,
    resnet18,
    mobilenet_v2,
    squeezenet1_1,
    efficientnet_b0,
    shufflenet_v2_x0_5,
    densenet121,
    googlenet,
    mobilenet_v3_small,
    regnet_y_400mf,
    convnext_tiny,
    crepe_tiny,
    crepe_full,
);

/// The plan of a real model: every batch norm folded into its convolution, the relus after
/// them fused, and the parameter count torch reports (`sum(p.numel())` = 11,689,512 for
/// resnet18), counted from the archive, not from the folded weights.
#[test]
fn resnet18_is_planned_as_expected() {
    let Some(dir) = cache() else { return };
    let p = Program::load(dir.join("resnet18.pt2"), &MapLocation::Keep).expect("load");
    let s = p.summary();
    assert_eq!(s.parameters, 11_689_512);
    assert_eq!(s.folded_batch_norms, 20);
    assert_eq!(s.op_counts.get("batch_norm"), None, "{s:?}");
    assert!(s.fused >= 9, "{s:?}");
    assert_eq!(s.aten_counts.get("aten.batch_norm.default"), Some(&20));
}
