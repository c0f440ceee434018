//! Structure-aware: the input chooses the *fields* of a valid checkpoint (a zip holding
//! `archive/data.pkl`, a protocol-2 pickle of an OrderedDict of tensors rebuilt with
//! `_rebuild_tensor_v2`, plus `version`, `byteorder` and `data/<k>`), then mutates a few of them
//! (dims, strides, offsets, numel, keys, locations, storage classes, opcode arguments, memo
//! indices, one opcode replaced or duplicated, record sizes, CRCs, methods and names). A valid
//! zip and pickle around one bad field is what byte-level fuzzing practically never builds.
//! The body is `load_checkpoint`'s plus `Tensor::contiguous_bytes` on every tensor.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const CLASSES: &[(&str, usize)] = &[
    ("FloatStorage", 4),
    ("DoubleStorage", 8),
    ("HalfStorage", 2),
    ("BFloat16Storage", 2),
    ("LongStorage", 8),
    ("IntStorage", 4),
    ("ShortStorage", 2),
    ("CharStorage", 1),
    ("ByteStorage", 1),
    ("BoolStorage", 1),
    ("ComplexFloatStorage", 8),
    ("UntypedStorage", 1),
    ("Tensor", 4),
];
const LOCATIONS: &[&str] = &[
    "cpu", "cuda:0", "cuda:1", "cuda:127", "cuda:128", "cuda:300", "cpu:0", "foo:0", "", "meta",
];
/// Values that sit on the edges of every size check.
const EDGES: &[i64] = &[
    0,
    1,
    2,
    -1,
    255,
    256,
    65535,
    65536,
    i32::MAX as i64,
    1 << 31,
    1 << 32,
    1 << 40,
    1 << 61,
    1 << 62,
    i64::MAX,
    i64::MIN,
];

fn int(u: &mut Unstructured<'_>, small: i64) -> Result<i64> {
    Ok(match u.int_in_range(0..=9)? {
        0 => *u.choose(EDGES)?,
        1 => u.arbitrary::<i64>()?,
        _ => u.int_in_range(0..=small)?,
    })
}

/// Pickle opcodes, one `Vec<u8>` per opcode, so that mutations can target whole opcodes.
#[derive(Default)]
struct Pkl(Vec<Vec<u8>>);

impl Pkl {
    fn op(&mut self, b: &[u8]) {
        self.0.push(b.to_vec());
    }
    fn int(&mut self, n: i64) {
        match n {
            0..=255 => self.op(&[b'K', n as u8]),
            256..=65535 => self.op(&[&b"M"[..], &(n as u16).to_le_bytes()].concat()),
            _ if i32::try_from(n).is_ok() => {
                self.op(&[&b"J"[..], &(n as i32).to_le_bytes()].concat())
            }
            _ => self.op(&[&[0x8a, 8][..], &n.to_le_bytes()].concat()),
        }
    }
    fn str(&mut self, s: &[u8]) {
        let len = (s.len() as u32).to_le_bytes();
        self.op(&[&b"X"[..], &len, s].concat());
    }
    fn global(&mut self, m: &str, n: &str) {
        self.op(format!("c{m}\n{n}\n").as_bytes());
    }
    fn tuple(&mut self, items: &[i64]) {
        self.op(b"(");
        for &i in items {
            self.int(i);
        }
        self.op(b"t");
    }
    fn odict(&mut self) {
        self.global("collections", "OrderedDict");
        self.op(b")");
        self.op(b"R");
    }
}

struct Tensor {
    class: usize,
    key: u8,
    loc: usize,
    numel: i64,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
    meta: u8,
    param: bool,
}

fn tensor(u: &mut Unstructured<'_>) -> Result<Tensor> {
    let rank = u.int_in_range(0..=3)?;
    let size: Vec<i64> = (0..rank)
        .map(|_| u.int_in_range(0..=4))
        .collect::<Result<_>>()?;
    let mut stride = vec![1i64; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        stride[d] = stride[d + 1] * size[d + 1].max(1);
    }
    let numel = size.iter().product::<i64>().max(1);
    Ok(Tensor {
        class: if u.ratio(1, 4)? {
            u.choose_index(CLASSES.len())?
        } else {
            0
        },
        key: u.int_in_range(0..=2)?,
        loc: if u.ratio(1, 5)? {
            u.choose_index(LOCATIONS.len())?
        } else {
            0
        },
        numel,
        offset: 0,
        size,
        stride,
        meta: u.int_in_range(0..=3)?,
        param: u.ratio(1, 4)?,
    })
}

/// One field of one tensor replaced by a value from the input.
fn mutate_tensor(u: &mut Unstructured<'_>, t: &mut Tensor) -> Result<()> {
    match u.int_in_range(0..=6)? {
        0 if !t.size.is_empty() => {
            let d = u.choose_index(t.size.len())?;
            t.size[d] = int(u, 8)?;
        }
        1 if !t.stride.is_empty() => {
            let d = u.choose_index(t.stride.len())?;
            t.stride[d] = int(u, 8)?;
        }
        2 => t.offset = int(u, 8)?,
        3 => t.numel = int(u, 64)?,
        4 => t.stride.push(int(u, 4)?),
        5 => t.size.push(int(u, 4)?),
        _ => t.key = u.arbitrary()?,
    }
    Ok(())
}

fn pickle(ts: &[Tensor], u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let mut p = Pkl::default();
    p.op(b"\x80\x02");
    p.odict();
    p.op(b"q\x00");
    p.op(b"(");
    for (i, t) in ts.iter().enumerate() {
        p.str(format!("t{i}").as_bytes());
        if t.param {
            p.global("torch._utils", "_rebuild_parameter");
            p.op(b"(");
        }
        p.global("torch._utils", "_rebuild_tensor_v2");
        p.op(b"(");
        p.op(b"(");
        p.str(b"storage");
        p.global("torch", CLASSES[t.class].0);
        p.str(t.key.to_string().as_bytes());
        p.str(LOCATIONS[t.loc].as_bytes());
        p.int(t.numel);
        p.op(b"t");
        p.op(b"Q");
        p.int(t.offset);
        p.tuple(&t.size);
        p.tuple(&t.stride);
        p.op(if t.param { b"\x88" } else { b"\x89" });
        p.odict();
        match t.meta {
            1 => {
                p.op(b"}");
                p.str(b"neg");
                p.op(b"\x88");
                p.op(b"s");
            }
            2 => {
                p.op(b"}");
                p.str(b"conj");
                p.op(b"\x88");
                p.op(b"s");
            }
            _ => {}
        }
        p.op(b"t");
        p.op(b"R");
        if t.param {
            p.op(b"\x88");
            p.odict();
            p.op(b"t");
            p.op(b"R");
        }
        if u.ratio(1, 8)? {
            p.op(b"q\x01");
        }
    }
    p.op(b"u");
    p.op(b".");
    // Opcode-level mutations: an argument, a memo index, one opcode replaced, duplicated or
    // dropped, or one of the stack/memo opcodes inserted.
    for _ in 0..u.int_in_range(0..=2)? {
        let at = u.choose_index(p.0.len())?;
        match u.int_in_range(0..=5)? {
            0 => {
                let op = &mut p.0[at];
                if op.len() > 1 {
                    let i = u.int_in_range(1..=op.len() - 1)?;
                    op[i] = u.arbitrary()?;
                }
            }
            1 => p.0[at] = vec![u.arbitrary()?],
            2 => {
                let dup = p.0[at].clone();
                p.0.insert(at, dup);
            }
            3 => {
                p.0.remove(at);
            }
            4 => {
                let idx: u32 = if u.ratio(1, 2)? {
                    u.int_in_range(0..=3)?
                } else {
                    u.arbitrary()?
                };
                let op = if u.ratio(1, 2)? { b'r' } else { b'j' };
                p.0.insert(at, [&[op][..], &idx.to_le_bytes()].concat());
            }
            _ => {
                let ops: [&[u8]; 8] = [b"2", b"(", b"0", b"N", b"h\x00", b"e", b"b", b"a"];
                let op = *u.choose(&ops)?;
                p.0.insert(at, op.to_vec());
            }
        }
    }
    Ok(p.0.concat())
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xEDB8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Deflate's stored blocks: a valid stream with no compression (no deflate encoder needed).
fn stored_deflate(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / 65535 + 1));
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let n = c.len() as u16;
        out.push(last);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(c);
    }
    out
}

struct Record {
    name: Vec<u8>,
    data: Vec<u8>,
    deflate: bool,
    crc: u32,
    csize: Option<u32>,
    usize: Option<u32>,
    method: Option<u16>,
}

fn record(name: &str, data: Vec<u8>, deflate: bool) -> Record {
    Record {
        name: format!("archive/{name}").into_bytes(),
        crc: crc32(&data),
        data,
        deflate,
        csize: None,
        usize: None,
        method: None,
    }
}

fn mutate_record(u: &mut Unstructured<'_>, r: &mut Record) -> Result<()> {
    match u.int_in_range(0..=5)? {
        0 => r.crc ^= 1 << u.int_in_range(0..=31)?,
        1 => r.csize = Some(int(u, 64)? as u32),
        2 => r.usize = Some(int(u, 64)? as u32),
        3 => r.method = Some(*u.choose(&[0u16, 8, 12, 14, 99])?),
        4 => {
            if let Some(b) = r.name.last_mut() {
                *b = u.arbitrary()?;
            }
        }
        _ => {
            let at = u.choose_index(r.data.len().max(1))?;
            if let Some(b) = r.data.get_mut(at) {
                *b = u.arbitrary()?;
            }
        }
    }
    Ok(())
}

fn zip(recs: &[Record], count_delta: i8) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for r in recs {
        let payload = if r.deflate {
            stored_deflate(&r.data)
        } else {
            r.data.clone()
        };
        let method = r.method.unwrap_or(if r.deflate { 8 } else { 0 });
        let csize = r.csize.unwrap_or(payload.len() as u32);
        let usize = r.usize.unwrap_or(r.data.len() as u32);
        let offset = out.len() as u32;
        let head = |sig: u32, out: &mut Vec<u8>, central: bool| {
            out.extend_from_slice(&sig.to_le_bytes());
            if central {
                out.extend_from_slice(&20u16.to_le_bytes());
            }
            for v in [20u16, 0, method, 0, 0x21] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [r.crc, csize, usize] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&(r.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            if central {
                for v in [0u16, 0, 0] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                out.extend_from_slice(&0u32.to_le_bytes());
                out.extend_from_slice(&offset.to_le_bytes());
            }
            out.extend_from_slice(&r.name);
        };
        head(0x0403_4b50, &mut out, false);
        out.extend_from_slice(&payload);
        head(0x0201_4b50, &mut central, true);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    let n = (recs.len() as i64 + i64::from(count_delta)).clamp(0, 65535) as u16;
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    for v in [0u16, 0, n, n] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn build(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let n = u.int_in_range(1..=4)?;
    let mut ts: Vec<Tensor> = (0..n).map(|_| tensor(u)).collect::<Result<_>>()?;
    let sizes: Vec<usize> = (0..3u8)
        .map(|k| {
            ts.iter()
                .filter(|t| t.key == k)
                .map(|t| (t.numel.clamp(0, 1024) as usize) * CLASSES[t.class].1)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for _ in 0..u.int_in_range(0..=3)? {
        let i = u.choose_index(ts.len())?;
        mutate_tensor(u, &mut ts[i])?;
    }
    let pkl = pickle(&ts, u)?;
    let deflate_all = u.ratio(1, 4)?;
    let mut recs = vec![record("data.pkl", pkl, deflate_all || u.ratio(1, 8)?)];
    recs.push(record("byteorder", b"little".to_vec(), false));
    for (k, &size) in sizes.iter().enumerate() {
        if size == 0 && u.ratio(1, 2)? {
            continue;
        }
        let fill: u8 = u.arbitrary()?;
        let data: Vec<u8> = (0..size).map(|i| fill.wrapping_add(i as u8)).collect();
        recs.push(record(&format!("data/{k}"), data, deflate_all));
    }
    let version = *u.choose(&[&b"3\n"[..], b"2", b"3junk", b"999", b""])?;
    recs.push(record("version", version.to_vec(), false));
    for _ in 0..u.int_in_range(0..=2)? {
        let i = u.choose_index(recs.len())?;
        mutate_record(u, &mut recs[i])?;
    }
    if u.ratio(1, 10)? {
        let i = u.choose_index(recs.len())?;
        let dup = Record {
            name: recs[i].name.clone(),
            data: recs[i].data.clone(),
            crc: recs[i].crc,
            ..record("x", Vec::new(), false)
        };
        recs.push(dup);
    }
    let delta = if u.ratio(1, 10)? {
        u.int_in_range(-2..=2)?
    } else {
        0
    };
    let mut file = zip(&recs, delta);
    if u.ratio(1, 16)? {
        let keep = u.choose_index(file.len())?;
        file.truncate(keep);
    }
    Ok(file)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(file) = build(&mut u) else { return };
    let opts = tensorport::checkpoint::OpenOptions {
        verify_crc: true,
        ..Default::default()
    };
    if let Ok(ckpt) = tensorport::Checkpoint::from_bytes(&file, &opts) {
        let loc = |s: &tensorport::Storage| s.device().location_tag();
        let _ = tensorport_cli::describe::describe(ckpt.value(), &loc, &|_| None);
        let _ = ckpt.state_dict();
        // Views up to 64 MiB are gathered. A larger broadcast view's copy is a fallible
        // allocation (unit-tested); libFuzzer's malloc hook would report any attempt above
        // its limit as an out-of-memory crash even though the allocation fails cleanly.
        ckpt.value().visit_tensors(&mut |_, t| {
            if t.numel().saturating_mul(t.dtype().size()) <= 64 << 20 {
                let _ = t.contiguous_bytes();
            }
        });
    }
});
