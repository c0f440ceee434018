// The C side of the kernel contract, generated from src/kernels/decl.rs at build time.
//
// `include!`d by build.rs (NVRTC needs params.cuh) and kernels/emu/build.rs (g++ needs
// params.cuh, the layout table and the call shims), right before they `include!` decl.rs: this
// file defines the `kernels!` macro that turns that declaration into a `Contract` value, and the
// functions that render it as C++. (Not a module, so only `//` comments; no inner attributes.)

/// One field of a params struct: its name, its Rust type as written (`i64`, `[i64; 8]`) and doc.
pub struct CField {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: Vec<&'static str>,
}

/// One params struct.
pub struct CStruct {
    pub name: &'static str,
    pub doc: Vec<&'static str>,
    pub fields: Vec<CField>,
}

/// One pointer operand of a kernel, in parameter order.
pub struct COperand {
    pub name: &'static str,
    pub writes: bool,
    pub elem: &'static str,
}

/// One kernel: the `.cu` stem, the `extern "C"` entry, its params struct and operands.
pub struct CKernel {
    pub module: &'static str,
    pub entry: &'static str,
    pub params: &'static str,
    pub operands: Vec<COperand>,
}

/// Everything decl.rs declares, as the C side needs it.
pub struct Contract {
    pub structs: Vec<CStruct>,
    pub kernels: Vec<CKernel>,
}

macro_rules! kernels {
    (
        params {
            $(
                $(#[doc = $sdoc:literal])*
                $sname:ident {
                    $( $(#[doc = $fdoc:literal])* $fname:ident : $fty:ty ),* $(,)?
                }
            )*
        }
        $(
            module $module:ident {
                $(
                    $(#[doc = $kdoc:literal])*
                    kernel $kname:ident = $entry:ident ($p:ident : $params:ident) {
                        launch: $shape:ident ( $($shape_arg:expr),* $(,)? ),
                        $(
                            $oname:ident : * $omut:tt $oelem:ident [ $($olen:expr),+ $(,)? ]
                                $(if $ocond:expr)?
                        ),+ $(,)?
                    }
                )*
            }
        )*
    ) => {
        pub fn contract() -> Contract {
            Contract {
                structs: vec![$(CStruct {
                    name: stringify!($sname),
                    doc: vec![$($sdoc),*],
                    fields: vec![$(CField {
                        name: stringify!($fname),
                        ty: stringify!($fty),
                        doc: vec![$($fdoc),*],
                    }),*],
                }),*],
                kernels: vec![$($(CKernel {
                    module: stringify!($module),
                    entry: stringify!($entry),
                    params: stringify!($params),
                    operands: vec![$(COperand {
                        name: stringify!($oname),
                        writes: stringify!($omut) == "mut",
                        elem: stringify!($oelem),
                    }),+],
                },)*)*],
            }
        }
    };
}

/// The C spelling of a Rust element type.
fn c_elem(rust: &str) -> Result<&'static str, String> {
    Ok(match rust {
        "f32" => "float",
        "f64" => "double",
        "i64" => "long long",
        "i32" => "int",
        "i16" => "short",
        "i8" => "signed char",
        "u8" => "unsigned char",
        // The 16-bit floats travel as their bits; the kernels do the arithmetic in integers.
        "f16" | "bf16" => "unsigned short",
        other => return Err(format!("src/kernels/decl.rs: no C type for element type {other}")),
    })
}

/// A field declaration: `long long n` or `long long strides[8]`, and its size in bytes.
fn c_field(f: &CField) -> Result<(String, usize), String> {
    let ty: String = f.ty.chars().filter(|c| !c.is_whitespace()).collect();
    if ty == "i64" {
        return Ok((format!("long long {}", f.name), 8));
    }
    let len = ty
        .strip_prefix("[i64;")
        .and_then(|r| r.strip_suffix(']'))
        .and_then(|n| n.parse::<usize>().ok())
        .ok_or_else(|| {
            format!(
                "src/kernels/decl.rs: field {} has type {}; params fields are i64 or [i64; N]",
                f.name, f.ty
            )
        })?;
    Ok((format!("long long {}[{len}]", f.name), 8 * len))
}

fn c_comment(doc: &[&str], indent: &str) -> String {
    doc.iter()
        .map(|l| format!("{indent}//{}\n", l.trim_end()))
        .collect()
}

/// `params.cuh`: every struct, field for field, with a static_assert of its size (NVRTC and g++
/// both check it), so a struct whose C layout differs from Rust's does not compile.
pub fn params_cuh(c: &Contract) -> Result<String, String> {
    let mut s = String::from(
        "// params.cuh: GENERATED from src/kernels/decl.rs by kernels/gen.rs; do not edit.\n\
         //\n\
         // The params structs the kernels receive BY VALUE as their first argument, each the C\n\
         // twin of a #[repr(C)] Rust struct: every field a 64-bit signed integer, in declaration\n\
         // order, so neither side has padding.\n\
         #pragma once\n",
    );
    for st in &c.structs {
        s += "\n";
        s += &c_comment(&st.doc, "");
        s += &format!("struct {} {{\n", st.name);
        let mut size = 0;
        for f in &st.fields {
            let (decl, bytes) = c_field(f)?;
            size += bytes;
            s += &c_comment(&f.doc, "    ");
            s += &format!("    {decl};\n");
        }
        s += "};\n";
        s += &format!(
            "static_assert(sizeof({0}) == {size}, \"{0}: layout differs from src/kernels/decl.rs\");\n",
            st.name
        );
    }
    Ok(s)
}

/// The PTX modules (`kernels/<module>.cu` stems), in declaration order.
pub fn modules(c: &Contract) -> Vec<&'static str> {
    let mut m: Vec<&'static str> = Vec::new();
    for k in &c.kernels {
        if !m.contains(&k.module) {
            m.push(k.module);
        }
    }
    m
}

/// The emulator's translation unit for one module: the kernel source itself, then one shim per
/// kernel that unpacks a cuLaunchKernel-style `void** args` (a pointer to each argument) into
/// a call. The call is type-checked against the kernel's real definition in this unit.
pub fn emu_module_cpp(c: &Contract, module: &str) -> Result<String, String> {
    let mut s = format!(
        "// GENERATED from src/kernels/decl.rs by kernels/gen.rs; do not edit.\n\
         #include \"{module}.cu\"\n\n"
    );
    for k in c.kernels.iter().filter(|k| k.module == module) {
        let mut args = vec![format!("*static_cast<const {}*>(a[0])", k.params)];
        for (i, o) in k.operands.iter().enumerate() {
            let cv = if o.writes { "" } else { "const " };
            args.push(format!(
                "*static_cast<{cv}{}* const*>(a[{}])",
                c_elem(o.elem)?,
                i + 1
            ));
        }
        s += &format!(
            "extern \"C\" void tp_emu_call_{}(void* const* a) {{\n    {}({});\n}}\n",
            k.entry,
            k.entry,
            args.join(",\n        ")
        );
    }
    Ok(s)
}

/// The emulator's table: every kernel's entry name, shim and argument count, and the size and
/// field offsets of every params struct as g++ lays them out.
pub fn emu_table_cpp(c: &Contract) -> Result<String, String> {
    let mut s = String::from(
        "// GENERATED from src/kernels/decl.rs by kernels/gen.rs; do not edit.\n\
         #include <cstddef>\n\n\
         #include \"params.cuh\"\n\
         #include \"table.h\"\n\n",
    );
    for k in &c.kernels {
        s += &format!("extern \"C\" void tp_emu_call_{}(void* const* a);\n", k.entry);
    }
    s += "\nextern \"C\" const TpEmuKernel tp_emu_kernels[] = {\n";
    for k in &c.kernels {
        s += &format!(
            "    {{\"{0}\", tp_emu_call_{0}, {1}, sizeof({2})}},\n",
            k.entry,
            k.operands.len() + 1,
            k.params
        );
    }
    s += "};\n";
    s += &format!(
        "extern \"C\" const size_t tp_emu_kernel_count = {};\n\n",
        c.kernels.len()
    );
    s += "extern \"C\" const TpEmuLayoutRow tp_emu_layout[] = {\n";
    let mut rows = 0;
    for st in &c.structs {
        for f in &st.fields {
            s += &format!(
                "    {{\"{0}\", \"{1}\", offsetof({0}, {1})}},\n",
                st.name, f.name
            );
            rows += 1;
        }
        s += &format!("    {{\"{0}\", \"\", sizeof({0})}},\n", st.name);
        rows += 1;
    }
    s += "};\n";
    s += &format!("extern \"C\" const size_t tp_emu_layout_len = {rows};\n");
    Ok(s)
}
