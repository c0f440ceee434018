//! Every fixture written by real PyTorch (tests/fixtures/gen_fixtures.py) read by us and
//! compared exactly with what torch.load returned for it: values (SHA-256 of the bytes), dtype,
//! shape, stride, offset, storage sharing, saved location, requires_grad, Parameter-ness, and
//! every non-tensor value. Bad files must fail with the error kind the manifest names.

mod common;

use common::{describe_checkpoint, first_difference, fixtures_dir, manifest};
use tensorport::checkpoint::{Checkpoint, OpenOptions};
use tensorport::{load, Device, MapLocation};

fn open(name: &str) -> tensorport::Result<Checkpoint> {
    Checkpoint::open_with(
        fixtures_dir().join(name),
        &OpenOptions {
            verify_crc: true,
            ..OpenOptions::default()
        },
    )
}

#[test]
fn good_fixtures_match_torch_exactly() {
    let m = manifest();
    let files = m["files"].as_object().expect("files");
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, spec) in files {
        if spec["expect"] != "ok" {
            continue;
        }
        checked += 1;
        let ckpt = match open(name) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: we refused it: {e}"));
                continue;
            }
        };
        if ckpt.format().name() != spec["format"] {
            failures.push(format!(
                "{name}: format {:?}, manifest {}",
                ckpt.format(),
                spec["format"]
            ));
        }
        let ours = describe_checkpoint(&ckpt);
        if let Some(d) = first_difference(&ours, &spec["describe"], "") {
            failures.push(format!("{name}: {d}"));
        }
    }
    assert!(
        checked >= 10,
        "only {checked} good fixtures in the manifest"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bad_fixtures_fail_with_their_kind() {
    let m = manifest();
    let files = m["files"].as_object().expect("files");
    let mut checked = 0;
    let mut failures = Vec::new();
    for (name, spec) in files {
        if spec["expect"] != "error" {
            continue;
        }
        checked += 1;
        let want = spec["kind"].as_str().expect("kind");
        // Both the lazy open and the full load must refuse the file.
        for (how, result) in [
            ("open", open(name).map(|_| ())),
            (
                "load",
                load(fixtures_dir().join(name), &MapLocation::To(Device::Cpu)).map(|_| ()),
            ),
        ] {
            match result {
                Ok(()) => failures.push(format!("{name} ({how}): accepted, expected {want}")),
                Err(e) => {
                    let got = e
                        .checkpoint_kind()
                        .map(|k| k.as_str())
                        .unwrap_or("not a checkpoint error");
                    if got != want {
                        failures.push(format!("{name} ({how}): {got} ({e}), expected {want}"));
                    }
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} bad fixtures in the manifest");
    assert!(
        failures.is_empty(),
        "{} bad fixtures misjudged:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
