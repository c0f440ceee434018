//! `torch.export` programs (`.pt2`) made by real PyTorch (tests/fixtures/pt2/gen_pt2.py) loaded
//! and run on every device, against torch's float32 and float64 forwards; their static and
//! dynamic shapes; and hostile archives, each a typed error naming what is wrong.

#[macro_use]
mod common;

use common::fixtures_dir;
use common::rule::assert_rule;
use tensorport::graph::{Dim, Program};
use tensorport::{load, Device, Error, MapLocation, Tensor};

device_tests!(net_matches_torch, tinyres_matches_torch);

cuda_configs!();

fn fixture(name: &str) -> std::path::PathBuf {
    fixtures_dir().join("pt2").join(name)
}

/// torch's input and outputs for `name`: x, the float32 forward, the float64 forward.
fn io(name: &str) -> (Tensor, Vec<f32>, Vec<f64>) {
    let ck = load(fixture(&format!("{name}_io.pt")), &MapLocation::Keep).expect("io");
    let d = ck.value().as_dict().expect("dict");
    let t = |k: &str| d.get_str(k).and_then(|v| v.as_tensor()).expect(k).clone();
    (
        t("x"),
        t("y32").to_vec::<f32>().expect("f32"),
        t("y64").to_vec::<f64>().expect("f64"),
    )
}

fn run_fixture(name: &str, dev: &Device) {
    let p = Program::load(fixture(&format!("{name}.pt2")), &MapLocation::To(*dev)).expect("load");
    assert_eq!(p.device(), *dev);
    let (x, y32, y64) = io(name);
    let out = p.run(&[x]).expect("run");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].device(), *dev);
    let ours = out[0]
        .to(&Device::Cpu)
        .expect("host")
        .to_vec::<f32>()
        .expect("f32");
    let worst = assert_rule(name, &ours, &y32, &y64);
    println!("{name} on {dev}: worst error ratio to torch's float32 {worst:.2}");
}

fn net_matches_torch(dev: &Device) {
    run_fixture("net", dev);
}

fn tinyres_matches_torch(dev: &Device) {
    run_fixture("tinyres", dev);
}

#[test]
fn a_dynamic_batch_runs_at_any_size_and_a_static_one_refuses() {
    let p = Program::load(fixture("net.pt2"), &MapLocation::Keep).expect("load");
    let spec = &p.inputs()[0];
    assert!(matches!(spec.shape[0], Dim::Symbol(_)), "{:?}", spec.shape);
    assert_eq!(
        &spec.shape[1..],
        &[Dim::Fixed(3), Dim::Fixed(32), Dim::Fixed(32)]
    );
    let (x, _, _) = io("net");
    let one = Tensor::from_slice(
        &x.to_vec::<f32>().expect("f32")[..3 * 32 * 32],
        &[1, 3, 32, 32],
    )
    .expect("x");
    for n in [1usize, 7] {
        let xs = Tensor::from_vec(one.to_vec::<f32>().expect("f32").repeat(n), &[n, 3, 32, 32])
            .expect("x");
        let y = p.run(&[xs]).expect("run").remove(0);
        assert_eq!(y.shape(), &[n, 10]);
    }
    let st = Program::load(fixture("net_static.pt2"), &MapLocation::Keep).expect("load");
    let err = st.run(&[one]).expect_err("batch 1 into a batch-2 program");
    let text = err.to_string();
    assert!(text.contains("fixed at 2"), "{text}");
    // Wrong dtype and rank are refused too.
    let ints = Tensor::from_vec(vec![0i64; 2 * 3 * 32 * 32], &[2, 3, 32, 32]).expect("x");
    assert!(matches!(
        st.run(&[ints]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(st.run(&[]), Err(Error::InvalidArgument { .. })));
}

#[test]
fn sample_inputs_and_summary() {
    let p = Program::load(fixture("tinyres.pt2"), &MapLocation::Keep).expect("load");
    let samples = p.sample_inputs().expect("samples");
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].shape(), &[2, 3, 16, 16]);
    let s = p.summary();
    assert_eq!(s.aten_counts.get("aten.conv2d.default"), Some(&4));
    assert!(s.fused >= 2, "{s:?}");
    let params: usize = [
        8 * 3 * 9 + 8,
        8 * 8 * 9 + 8,
        8 * 8 * 9 + 8,
        16 * 8 * 9 + 16,
        5 * 400 + 5,
    ]
    .iter()
    .sum();
    assert_eq!(s.parameters, params);
    let (_, stats) = p.run_with_stats(samples).expect("run");
    assert!(
        stats.peak_activation_bytes > 0 && stats.flops > 0,
        "{stats:?}"
    );
}

#[test]
fn a_checkpoint_is_not_a_program() {
    let err = Program::load(
        fixtures_dir().join("ok/net_state_dict.pt"),
        &MapLocation::Keep,
    )
    .expect_err("not a pt2");
    assert!(err.to_string().contains("tensorport::load"), "{err}");
}

/// What a rewrite does to one record: its new bytes, or `None` to drop it.
type Edit<'a> = &'a dyn Fn(&str, Vec<u8>) -> Option<Vec<u8>>;

/// `net.pt2` with record `name` replaced by what `edit` makes of it (`None`: removed), and
/// `extra` records added.
fn rewritten(edit: Edit<'_>, extra: &[(&str, &[u8])]) -> tempfile::TempPath {
    use std::io::{Read, Write};
    let mut src =
        zip::ZipArchive::new(std::fs::File::open(fixture("net.pt2")).expect("open")).expect("zip");
    let out = tempfile::NamedTempFile::new().expect("temp");
    let mut w = zip::ZipWriter::new(out.reopen().expect("reopen"));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..src.len() {
        let mut f = src.by_index(i).expect("entry");
        let name = f.name().expect("name").to_string();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).expect("read");
        if let Some(b) = edit(&name, bytes) {
            w.start_file(name, opts).expect("start");
            w.write_all(&b).expect("write");
        }
    }
    for (name, b) in extra {
        w.start_file(*name, opts).expect("start");
        w.write_all(b).expect("write");
    }
    w.finish().expect("finish");
    out.into_temp_path()
}

/// `net.pt2` with its graph JSON changed by `f`.
fn with_graph(f: &dyn Fn(&mut serde_json::Value)) -> tempfile::TempPath {
    rewritten(
        &|name, bytes| {
            if !name.ends_with("models/model.json") {
                return Some(bytes);
            }
            let mut doc: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            f(&mut doc);
            Some(serde_json::to_vec(&doc).expect("json"))
        },
        &[],
    )
}

fn load_err(path: &std::path::Path) -> Error {
    match Program::load(path, &MapLocation::Keep) {
        Err(e) => e,
        Ok(p) => panic!("a hostile archive loaded: {p:?}"),
    }
}

fn nodes(doc: &mut serde_json::Value) -> &mut Vec<serde_json::Value> {
    doc["graph_module"]["graph"]["nodes"]
        .as_array_mut()
        .expect("nodes")
}

#[test]
fn hostile_archives_are_typed_errors() {
    // Not JSON.
    let p = rewritten(
        &|n, b| {
            Some(if n.ends_with("model.json") {
                b"{not json".to_vec()
            } else {
                b
            })
        },
        &[],
    );
    let e = load_err(&p);
    assert!(
        matches!(&e, Error::Program { at, .. } if at.contains("model.json")),
        "{e}"
    );
    // A node reading a value nothing defines, and one reading a later node's output (a cycle).
    let p = with_graph(&|d| nodes(d)[0]["inputs"][0]["arg"]["as_tensor"]["name"] = "nope".into());
    let e = load_err(&p);
    assert!(
        e.to_string().contains("nope") && e.to_string().contains("no earlier"),
        "{e}"
    );
    let p =
        with_graph(&|d| nodes(d)[0]["inputs"][0]["arg"]["as_tensor"]["name"] = "linear_2".into());
    assert!(load_err(&p).to_string().contains("linear_2"));
    // An op we do not run: named with its node, before anything runs.
    let p = with_graph(&|d| nodes(d)[1]["target"] = "torch.ops.aten.fancy_op.default".into());
    let e = load_err(&p);
    assert!(
        matches!(&e, Error::UnsupportedOp { node, target, .. } if node == "relu" && target == "aten.fancy_op.default"),
        "{e}"
    );
    // A value defined twice.
    let p = with_graph(&|d| nodes(d)[1]["outputs"][0]["as_tensor"]["name"] = "conv2d".into());
    assert!(load_err(&p).to_string().contains("defined twice"));
    // A schema from the future.
    let p = with_graph(&|d| d["schema_version"]["major"] = 99.into());
    assert!(load_err(&p).to_string().contains("99"));
    // An AOTInductor package.
    let p = rewritten(
        &|_, b| Some(b),
        &[("net/data/aotinductor/model/model.so", b"\x7fELF")],
    );
    assert!(load_err(&p).to_string().contains("AOTInductor"));
}

/// The weights config edited by `f`.
fn with_weights(f: &dyn Fn(&mut serde_json::Value)) -> tempfile::TempPath {
    rewritten(
        &|name, bytes| {
            if !name.ends_with("model_weights_config.json") {
                return Some(bytes);
            }
            let mut doc: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            f(&mut doc);
            Some(serde_json::to_vec(&doc).expect("json"))
        },
        &[],
    )
}

#[test]
fn hostile_weights_are_typed_errors_without_huge_allocations() {
    // A weight whose metadata claims more elements than its bytes hold.
    let p = with_weights(&|d| {
        d["config"]["conv1.weight"]["tensor_meta"]["sizes"][3]["as_int"] = 50.into()
    });
    let e = load_err(&p);
    assert!(e.to_string().contains("conv1.weight"), "{e}");
    // 10 GB declared over 1800 bytes: refused by the bounds check, nothing allocated.
    let p = with_weights(&|d| {
        let m = &mut d["config"]["conv1.weight"]["tensor_meta"];
        m["sizes"] = serde_json::json!([{"as_int": 2_500_000_000u64}]);
        m["strides"] = serde_json::json!([{"as_int": 1}]);
    });
    let e = load_err(&p);
    assert!(e.to_string().contains("conv1.weight"), "{e}");
    // Sizes whose product overflows 64 bits: an error, not an overflow panic.
    let p = with_weights(&|d| {
        let m = &mut d["config"]["conv1.weight"]["tensor_meta"];
        m["sizes"] = serde_json::json!([{"as_int": 1u64 << 40}, {"as_int": 1u64 << 40}]);
        m["strides"] = serde_json::json!([{"as_int": 1}, {"as_int": 1}]);
    });
    assert!(load_err(&p).to_string().contains("conv1.weight"));
    // A weight the program reads but the config does not list.
    let p = with_weights(&|d| {
        d["config"]
            .as_object_mut()
            .expect("config")
            .remove("fc3.bias");
    });
    assert!(load_err(&p).to_string().contains("fc3.bias"));
    // A path that escapes the weights folder, and a missing weight record.
    let p = with_weights(&|d| d["config"]["fc3.bias"]["path_name"] = "../models/model.json".into());
    assert!(load_err(&p).to_string().contains("not a file name"));
    let p = rewritten(&|n, b| (!n.ends_with("weights/weight_9")).then_some(b), &[]);
    assert!(load_err(&p).to_string().contains("weight_9"));
    // An empty record for a non-empty tensor is refused (torch would fill zeros).
    let p = rewritten(
        &|n, b| {
            Some(if n.ends_with("weights/weight_9") {
                Vec::new()
            } else {
                b
            })
        },
        &[],
    );
    assert!(
        load_err(&p).to_string().contains("empty"),
        "{}",
        load_err(&p)
    );
    // A truncated archive.
    let bytes = std::fs::read(fixture("net.pt2")).expect("read");
    let t = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(t.path(), &bytes[..bytes.len() / 2]).expect("write");
    assert!(Program::load(t.path(), &MapLocation::Keep).is_err());
}

/// Hundreds of corrupted and truncated copies of a real archive: each loads or fails with a
/// typed error, never a panic (the fuzz target `load_program` does this without end).
#[test]
fn corrupted_archives_never_panic() {
    let bytes = std::fs::read(fixture("tinyres.pt2")).expect("read");
    let mut rng = common::rng::Rng::new(99);
    let mut loaded = 0;
    for i in 0..600 {
        let mut b = bytes.clone();
        if i % 10 == 0 {
            b.truncate((rng.next_u64() as usize) % bytes.len());
        } else {
            for _ in 0..1 + i % 4 {
                let at = (rng.next_u64() as usize) % b.len();
                b[at] ^= 1 << (rng.next_u64() % 8);
            }
        }
        if let Ok(p) = Program::from_bytes(&b, &MapLocation::Keep) {
            loaded += 1;
            if let Some(x) = p.sample_inputs() {
                let _ = p.run(x);
            }
        }
    }
    // Most flips land in weight bytes, which load (and compute other numbers): the point is
    // that nothing panicked.
    println!("{loaded} of 600 corrupted copies loaded");
}

/// A graph whose declared shapes lie errors at run: after an op whose result is not its
/// declared meta, and before a convolution whose padding would make 1.7 GB where the graph
/// declares 28 x 28 (predicted from the shapes, nothing allocated).
#[test]
fn results_are_held_to_their_declared_meta() {
    let p = with_graph(&|d| {
        d["graph_module"]["graph"]["tensor_values"]["conv2d"]["sizes"][2]["as_int"] = 99.into()
    });
    let p = Program::load(&p, &MapLocation::Keep).expect("load");
    let e = p
        .run(p.sample_inputs().expect("samples"))
        .expect_err("a lie");
    assert!(
        e.to_string().contains("declares it [s77, 6, 99, 28]"),
        "{e}"
    );
    let p = with_graph(&|d| {
        let pad = serde_json::json!({"name": "padding", "arg": {"as_ints": [3000, 3000]}});
        nodes(d)[0]["inputs"]
            .as_array_mut()
            .expect("inputs")
            .push(pad);
    });
    let p = Program::load(&p, &MapLocation::Keep).expect("load");
    let e = p
        .run(p.sample_inputs().expect("samples"))
        .expect_err("huge");
    assert!(e.to_string().contains("[3, 6, 6028, 6028]"), "{e}");
}

/// The load's memory budget is settable and counts the parsed graph; JSON nesting is bounded.
#[test]
fn the_memory_budget_and_json_nesting_are_bounded() {
    use tensorport::graph::ProgramOptions;
    let small = ProgramOptions {
        max_bytes: 64 << 10,
        ..ProgramOptions::default()
    };
    let e = Program::load_with(fixture("net.pt2"), &small).expect_err("64 KiB");
    let text = e.to_string();
    assert!(
        text.contains("model.json") && text.contains("max_bytes"),
        "{text}"
    );
    Program::load_with(fixture("net.pt2"), &ProgramOptions::default()).expect("512 MiB");
    let p = with_graph(&|d| {
        let mut v = serde_json::json!([]);
        for _ in 0..120 {
            v = serde_json::json!([v]);
        }
        d["extra"] = v;
    });
    let e = load_err(&p);
    assert!(e.to_string().contains("nested more than 100 levels"), "{e}");
}
