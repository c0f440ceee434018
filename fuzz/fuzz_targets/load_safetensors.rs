//! safetensors headers built from fuzz bytes (names, dtypes, shapes and offsets drawn so that
//! most files get past the JSON into the range checks), through our reader and the reference
//! implementation side by side. Any panic, hang or large allocation is a bug, and so is any
//! file the two readers disagree on: accepted by one and refused by the other, or read to
//! different tensors.
#![no_main]

use libfuzzer_sys::fuzz_target;

const DTYPES: [&str; 8] = ["F32", "F16", "BF16", "I64", "U8", "BOOL", "F64", "Q9"];

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let mut header = String::from("{");
    let mut bytes = rest.iter().copied();
    let mut next = || bytes.next().unwrap_or(0) as u64;
    let mut end = 0u64;
    let mut duplicate = false;
    for i in 0..(n % 6) {
        if i > 0 {
            header.push(',');
        }
        let dtype = DTYPES[(next() % DTYPES.len() as u64) as usize];
        let dims: Vec<String> = (0..next() % 4).map(|_| (next() % 5).to_string()).collect();
        // Mostly contiguous offsets, sometimes off by a little or a lot.
        let start = match next() % 8 {
            0 => end.saturating_sub(next()),
            1 => end + next(),
            2 => next() << 56,
            _ => end,
        };
        let len = next() % 64;
        end = start.saturating_add(len);
        let name = if i > 0 && next() % 16 == 0 {
            duplicate = true;
            "t0".to_string()
        } else {
            format!("t{i}")
        };
        header.push_str(&format!(
            r#""{name}":{{"dtype":"{dtype}","shape":[{}],"data_offsets":[{start},{end}]}}"#,
            dims.join(",")
        ));
    }
    header.push('}');
    let data_len = (next() % 256) as usize;
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend((0..data_len).map(|i| i as u8));

    let ours = tensorport::Checkpoint::from_bytes(&file, &Default::default());
    let reference = safetensors::SafeTensors::deserialize(&file);
    if duplicate {
        // The reference keeps the last of two entries with one name (a JSON object read into a
        // hash map); we refuse the file, since two readers could take different tensors.
        assert!(ours.is_err(), "a duplicate name was accepted");
        return;
    }
    match (&ours, &reference) {
        (Ok(ck), Ok(st)) => {
            let sd = ck.state_dict().expect("a safetensors file is a state dict");
            assert_eq!(sd.len(), st.len());
            for (name, view) in st.tensors() {
                let t = sd.get(&name).expect("same names");
                assert_eq!(t.shape(), view.shape());
                assert_eq!(&*t.contiguous_bytes().expect("host bytes"), view.data());
            }
        }
        (Err(_), Err(_)) => {}
        // The reference reads BOOL bytes as they are; we do too. Any other disagreement is a
        // bug in one of the readers.
        _ => panic!("disagree: ours {:?}, reference {:?}", ours.err(), reference.err()),
    }
});
