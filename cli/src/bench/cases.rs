//! What `bench` times: the model (a torch.export program, or the recipe's Net from a
//! checkpoint), loaded once, and its inputs at each batch size.
//!
//! A program's inputs are its saved sample inputs with the batch dimension (the leading
//! dimension of the first input, and of every input sharing its symbol) grown or cut to the
//! batch size by repeating sample rows: real data, the same in torch (`bench_torch.py` repeats
//! them the same way). The Net has no sample, so it gets uniform values in [-1, 1), the range
//! of the tutorial's normalised images.

use std::path::Path;

use tensorport::graph::{Dim, Program, TensorSpec};
use tensorport::nn::{Module, Net};
use tensorport::{Device, Error, MapLocation, Result, Tensor};

/// The model being timed.
enum Model {
    Program(Box<Program>),
    Net(Box<Net>),
}

/// How a program's batch dimension was exported.
#[derive(Clone, Debug, PartialEq)]
enum BatchDim {
    /// Dynamic (`torch.export.Dim`): any size the program's range allows.
    Symbol(String),
    /// Fixed at export: only this size runs.
    Fixed(usize),
}

/// A model loaded on its device, ready to run at any allowed batch size.
pub struct Case {
    model: Model,
    device: Device,
    batch_dim: BatchDim,
    /// Program inputs (on the CPU) and whether each one's leading dimension is the batch.
    samples: Vec<(Tensor, bool)>,
    /// For the header: what the model is and its inputs.
    pub description: String,
}

/// Image shape of the recipe Net's input, after the batch dimension.
const NET_IMAGE: [usize; 3] = [3, 32, 32];

fn spec_text(s: &TensorSpec) -> String {
    let dims: Vec<String> = s.shape.iter().map(Dim::to_string).collect();
    format!("{} {} [{}]", s.name, s.dtype, dims.join(", "))
}

fn refuse(reason: String) -> Error {
    Error::InvalidArgument {
        op: "bench",
        name: "MODEL",
        reason,
    }
}

impl Case {
    /// Loads `path` (a `.pt2` program, else a Net checkpoint) onto `device`.
    pub fn load(path: &Path, device: Device) -> Result<Case> {
        if !crate::program::is_program(path) {
            let net = crate::run::load_net(path, device)?;
            return Ok(Case {
                model: Model::Net(Box::new(net)),
                device,
                batch_dim: BatchDim::Symbol("N".into()),
                samples: Vec::new(),
                description: "checkpoint of the recipe's Net, input float32 [N, 3, 32, 32]".into(),
            });
        }
        let p = Program::load(path, &MapLocation::To(device))?;
        let specs = p.inputs();
        let batch_dim = match specs.first().and_then(|s| s.shape.first()) {
            Some(Dim::Symbol(s)) => BatchDim::Symbol(s.clone()),
            Some(Dim::Fixed(n)) => BatchDim::Fixed(*n),
            None => {
                return Err(refuse(
                    "the program's first input has no leading dimension to use as the batch".into(),
                ))
            }
        };
        let sample = p.sample_inputs().ok_or_else(|| Error::NotFound {
            what: "sample inputs",
            key: "the archive has none, and bench takes the input shapes from them".into(),
        })?;
        if sample.len() != specs.len() {
            return Err(refuse(format!(
                "the archive's sample inputs are {} tensors, the program takes {}",
                sample.len(),
                specs.len()
            )));
        }
        let samples = specs
            .iter()
            .zip(sample)
            .map(|(s, t)| {
                let batched = matches!((&batch_dim, s.shape.first()),
                    (BatchDim::Symbol(b), Some(Dim::Symbol(d))) if b == d);
                Ok((t.to(&Device::Cpu)?, batched))
            })
            .collect::<Result<Vec<_>>>()?;
        let inputs: Vec<String> = specs.iter().map(|s| spec_text(s)).collect();
        Ok(Case {
            model: Model::Program(Box::new(p)),
            device,
            batch_dim,
            samples,
            description: format!("torch.export program, input {}", inputs.join(", ")),
        })
    }

    /// `"program"` or `"net"`: the JSON's model kind and the torch script's switch.
    pub fn kind(&self) -> &'static str {
        match self.model {
            Model::Program(_) => "program",
            Model::Net(_) => "net",
        }
    }

    /// The batch sizes timed without `--batch`: the only one a static program runs, else
    /// 1, 8 and 64.
    pub fn default_batches(&self) -> Vec<usize> {
        match self.batch_dim {
            BatchDim::Fixed(n) => vec![n],
            BatchDim::Symbol(_) => vec![1, 8, 64],
        }
    }

    /// Which program inputs are batched (for the torch script).
    pub fn batched(&self) -> Vec<bool> {
        self.samples.iter().map(|(_, b)| *b).collect()
    }

    /// Refuses a batch size the program cannot run before anything is timed. Sizes outside a
    /// dynamic dimension's exported range are refused by the first (check) run.
    pub fn check_batch(&self, batch: usize) -> Result<()> {
        match self.batch_dim {
            BatchDim::Fixed(n) if n != batch => Err(Error::InvalidArgument {
                op: "bench",
                name: "--batch",
                reason: format!(
                    "the program was exported with its batch dimension fixed at {n}, so it \
                     cannot run batch {batch}: pass --batch {n}, or export with \
                     torch.export.Dim to make the batch dynamic"
                ),
            }),
            _ => Ok(()),
        }
    }

    /// The inputs for `batch`, on the model's device (uploaded here, not in the timed runs).
    pub fn inputs(&self, batch: usize) -> Result<Vec<Tensor>> {
        let host = match self.model {
            Model::Net(_) => {
                let mut shape = vec![batch];
                shape.extend(NET_IMAGE);
                let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
                let n = n.ok_or_else(|| Error::Overflow {
                    what: format!("elements of the Net input {shape:?}"),
                })?;
                vec![Tensor::from_vec(uniform(n)?, &shape)?]
            }
            Model::Program(_) => self
                .samples
                .iter()
                .map(|(t, batched)| {
                    if *batched {
                        repeat_rows(t, batch)
                    } else {
                        Ok(t.clone())
                    }
                })
                .collect::<Result<_>>()?,
        };
        host.iter().map(|t| t.to(&self.device)).collect()
    }

    /// One forward pass on `inputs`, finished (the device synchronised) when it returns.
    pub fn run(&self, inputs: &[Tensor]) -> Result<()> {
        let outs = match (&self.model, inputs) {
            (Model::Program(p), _) => p.run(inputs)?,
            (Model::Net(net), [x]) => vec![net.forward(x)?],
            (Model::Net(_), _) => return Err(refuse("the Net takes one input".into())),
        };
        tensorport::cuda::synchronize(&self.device)?;
        drop(outs);
        Ok(())
    }
}

/// `t` with its leading dimension made `n` by repeating its rows in order (row `i` is sample
/// row `i % rows`), as `x[torch.arange(n) % rows]` does.
fn repeat_rows(t: &Tensor, n: usize) -> Result<Tensor> {
    let (rows, rest) = match t.shape().split_first() {
        Some((&r, rest)) if r > 0 => (r, rest.to_vec()),
        _ => {
            return Err(refuse(format!(
                "a sample input of shape {:?} has no rows to repeat into a batch",
                t.shape()
            )))
        }
    };
    let bytes = t.contiguous_bytes()?;
    let row = bytes.len() / rows;
    let total = row.checked_mul(n).ok_or_else(|| Error::Overflow {
        what: format!("bytes of a batch of {n} rows of {row} bytes"),
    })?;
    let mut out = reserve(total, "a batch of sample input rows")?;
    for i in 0..n {
        let r = i % rows;
        out.extend_from_slice(&bytes[r * row..(r + 1) * row]);
    }
    let mut shape = vec![n];
    shape.extend(rest);
    Tensor::from_raw_bytes(t.dtype(), &shape, &out)
}

/// An empty vector with room for `n` elements, or an error (not an abort) when a batch size
/// asks for more memory than there is.
fn reserve<T>(n: usize, what: &str) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::OutOfMemory {
        what: what.into(),
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    })?;
    Ok(v)
}

/// `n` values uniform in [-1, 1) from a fixed xorshift stream: the same input every run.
fn uniform(n: usize) -> Result<Vec<f32>> {
    let mut v = reserve(n, "the Net's input batch")?;
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    v.extend((0..n).map(|_| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        // The top 24 bits: every value exact in f32.
        (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }));
    Ok(v)
}
