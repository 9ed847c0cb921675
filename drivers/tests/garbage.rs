//! Garbage from devices must not panic a parser: the checks of the fuzz
//! targets (fuzz/src/lib.rs, included here as a module so both check the same
//! things) over inputs from a seeded PRNG, on stable Rust in a normal
//! `cargo test`. For each target: purely random bytes, random bytes from the
//! protocol's own alphabet, and mutations of valid inputs.
//!
//! A failure prints the input; add it to `regressions` once fixed.
//! See docs/fuzzing.md.

#[path = "../../fuzz/src/lib.rs"]
mod checks;

use checks::Rng;
use kiosk_drivers::escpos::doc::Doc;
use kiosk_drivers::escpos::parse::parse;
use kiosk_drivers::idcard::frame::{self, cmd, CardText, Status};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Inputs per target.
const N: usize = 20_000;

fn random_bytes(rng: &mut Rng, max_len: usize, alphabet: &[u8]) -> Vec<u8> {
    let len = rng.below(max_len + 1);
    (0..len)
        .map(|_| {
            if alphabet.is_empty() || rng.below(3) == 0 {
                rng.next_u64() as u8
            } else {
                alphabet[rng.below(alphabet.len())]
            }
        })
        .collect()
}

/// 1 to 4 random edits of `input`, some splicing in parts of `pool`.
fn mutate(rng: &mut Rng, input: &[u8], pool: &[Vec<u8>], alphabet: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(9) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next_u64() as u8;
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0x00, 0xFF, 0x7F, 0x80][rng.below(4)];
            }
            3 if !alphabet.is_empty() => v.insert(at, alphabet[rng.below(alphabet.len())]),
            4 => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            5 => v.truncate(at),
            6 => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                let dup = v[at..end].to_vec();
                v.splice(at..at, dup);
            }
            7 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                let from = rng.below(other.len() + 1);
                let to = (from + rng.below(other.len() + 1)).min(other.len());
                v.splice(at..at, other[from..to].iter().copied());
            }
            _ => v.insert(at, rng.next_u64() as u8),
        }
    }
    v
}

/// Run `check` on `N` inputs made by `make`; a panic reports the input.
fn run(name: &str, seed: u64, make: impl Fn(&mut Rng, usize) -> Vec<u8>, check: impl Fn(&[u8])) {
    let mut rng = Rng::new(seed);
    for i in 0..N {
        let input = make(&mut rng, i);
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            panic!("{name}: input #{i} panicked (see above): {input:02X?}");
        }
    }
}

// ---------------------------------------------------------------------------
// ID card SAM frames
// ---------------------------------------------------------------------------

const SAM_ALPHABET: &[u8] = &[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x00, 0x90, 0x01, 0x03];

fn card() -> CardText {
    CardText {
        name: "张小三".into(),
        sex: '1',
        nation: "01".into(),
        birth: "19900101".into(),
        address: "浙江省宁波市海曙区中山西路1号".into(),
        id_number: "330203199001011234".into(),
        issuer: "宁波市公安局海曙分局".into(),
        valid_from: "20150101".into(),
        valid_to: "长期".into(),
    }
}

/// Valid response bodies (status words, SW3, data) and the base info alone.
fn sam_bodies() -> Vec<Vec<u8>> {
    let info = frame::encode_base_info(&card(), &[0x57; 16]);
    let mut base = vec![0x00, 0x00, Status::Ok.byte()];
    base.extend_from_slice(&info);
    vec![
        base,
        vec![0x00, 0x00, Status::CardFound.byte(), 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0x00, 0x00, Status::NoCard.byte()],
        vec![0x00, 0x00, Status::Ok.byte(), 0x11, 0x22, 0x33, 0x44],
        info,
    ]
}

/// Valid frames and streams of them, with and without garbage around.
fn sam_valid() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = sam_bodies().iter().map(|b| frame::encode(b)).collect();
    v.push(frame::response(Status::SamAuthFailed, &[]));
    v.push(frame::request(cmd::FIND_CARD, &[]));
    v.push(frame::request(cmd::READ_BASE, &[]));
    v.push([&[0x13, 0x37, 0xAA][..], &v[2], &v[1], &[0xAA, 0xAA]].concat());
    v.push([v[1].as_slice(), &v[3]].concat());
    v
}

#[test]
fn sam_frames_survive_garbage() {
    let valid = sam_valid();
    let bodies = sam_bodies();
    run(
        "sam_frame",
        0x5A3_F4A3E,
        |rng, i| match i % 4 {
            0 => random_bytes(rng, 400, &[]),
            1 => random_bytes(rng, 400, SAM_ALPHABET),
            // A mutated body in a correct frame reaches the body parsers.
            2 => {
                let body = &bodies[rng.below(bodies.len())];
                let f = frame::encode(&mutate(rng, body, &bodies, SAM_ALPHABET));
                if rng.below(3) == 0 {
                    mutate(rng, &f, &valid, SAM_ALPHABET)
                } else {
                    f
                }
            }
            _ => {
                let base = &valid[rng.below(valid.len())];
                mutate(rng, base, &valid, SAM_ALPHABET)
            }
        },
        |data| checks::sam_frame(data, true),
    );
}

// ---------------------------------------------------------------------------
// Scanner
// ---------------------------------------------------------------------------

const SCAN_ALPHABET: &[u8] = b"\r\n\r\n0123456789RV:abcdef opc424";

fn scanner_codes() -> Vec<String> {
    vec![
        "134567890123456789".into(),
        "2856789012345678".into(),
        "6225880112345678901".into(),
        format!("{}:1", "a1".repeat(32)),
        format!("424{}", "7".repeat(25)),
        "R20261123001".into(),
        "V000123".into(),
        " hello world ".into(),
    ]
}

/// Three header bytes (max length, seed), then codes with line ends.
fn scanner_input(rng: &mut Rng, codes: &[String]) -> Vec<u8> {
    let mut v: Vec<u8> = (0..3).map(|_| rng.next_u64() as u8).collect();
    for _ in 0..1 + rng.below(5) {
        v.extend_from_slice(codes[rng.below(codes.len())].as_bytes());
        v.extend_from_slice([&b"\r"[..], b"\n", b"\r\n"][rng.below(3)]);
    }
    v
}

#[test]
fn scanner_framing_survives_garbage() {
    let codes = scanner_codes();
    let pool: Vec<Vec<u8>> = codes.iter().map(|c| c.as_bytes().to_vec()).collect();
    run(
        "scanner_framing",
        0x5CA_77E4,
        |rng, i| match i % 4 {
            0 => random_bytes(rng, 200, &[]),
            1 => random_bytes(rng, 200, SCAN_ALPHABET),
            2 => scanner_input(rng, &codes),
            _ => {
                let valid = scanner_input(rng, &codes);
                mutate(rng, &valid, &pool, SCAN_ALPHABET)
            }
        },
        checks::scanner_framing,
    );
}

// ---------------------------------------------------------------------------
// ESC/POS
// ---------------------------------------------------------------------------

const ESCPOS_ALPHABET: &[u8] = &[
    0x1B, 0x1D, 0x1C, 0x10, 0x04, 0x0A, 0x0D, 0x00, b'@', b'!', b'(', b'k', b'V', b'd', b'a', b'E',
    b'v', b'&', 49, 80, 81, 73, 66, 3, b'x',
];

fn escpos_jobs() -> Vec<Vec<u8>> {
    let mut a = Doc::new(48);
    a.title("宁波市第一人民医院")
        .text("科室: 眼科  费用: ¥15.00")
        .pair("就诊地点 Location", "门诊楼3楼东区305诊室")
        .qr("https://h.example/v/1")
        .barcode("V000123")
        .cut();
    let mut b = Doc::new(32);
    b.bold("挂号凭条")
        .center("请保管好")
        .rule()
        .feed(2)
        .qr("R1")
        .cut();
    let mut c = Doc::new(48);
    c.text("ok").barcode("R20261123001");
    let mut job = a.to_escpos().expect("encodable");
    job.extend([0x10, 0x04, 1, 0x1D, b'v', b'0', 0, 1, 0, 2, 0, 0xFF, 0x00]);
    vec![
        job,
        b.to_escpos().expect("encodable"),
        c.to_escpos().expect("encodable"),
    ]
}

#[test]
fn escpos_parser_survives_garbage() {
    let jobs = escpos_jobs();
    for j in &jobs {
        parse(j).expect("the valid jobs parse");
    }
    run(
        "escpos_parse",
        0xE5C_9059,
        |rng, i| match i % 4 {
            0 => random_bytes(rng, 200, &[]),
            1 => random_bytes(rng, 200, ESCPOS_ALPHABET),
            _ => {
                let base = &jobs[rng.below(jobs.len())];
                mutate(rng, base, &jobs, ESCPOS_ALPHABET)
            }
        },
        checks::escpos_parse,
    );
}

// ---------------------------------------------------------------------------
// Hand-picked inputs
// ---------------------------------------------------------------------------

#[test]
fn regressions() {
    let sam: &[&[u8]] = &[
        &[],
        &[0xAA],
        &[0xAA, 0xAA, 0xAA, 0x96, 0x69],
        &[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x00],
        &[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0xFF, 0xFF],
        &[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x01, 0x01],
        &[0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x01, 0x00],
    ];
    for s in sam {
        checks::sam_frame(s, true);
    }
    for s in [
        &b""[..],
        b"\x00",
        b"\x00\x00\x00\r\n\r",
        b"\x05ab\xffc\rok\n",
    ] {
        checks::scanner_framing(s);
    }
    let escpos: &[&[u8]] = &[
        &[],
        &[0x1B],
        &[0x1D, b'V', 66],
        &[0x1D, b'v', b'0', 0, 0xFF, 0xFF, 0xFF, 0xFF],
        &[0x1D, b'k', 4, b'1'],
        &[0x1D, b'(', b'k', 0xFF, 0xFF],
        &[0x1B, b'd', 0xFF, 0x1B, b'd', 0xFF],
    ];
    for s in escpos {
        checks::escpos_parse(s);
    }
}

// ---------------------------------------------------------------------------
// Regressions: inputs that once failed (docs/fuzzing.md, findings 1 and 2)
// ---------------------------------------------------------------------------

/// `sam_frame --features strict` crash, minimised by `cargo fuzz tmin`. The
/// reader's read sizes come from the input: it reads `92 AA AA AA AA 96`
/// first, then the rest, which holds the frame `AA AA AA 96 69 00 01 01`.
const SAM_SPLIT_PREAMBLE: [u8; 26] = [
    0x92, 0xAA, 0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x01, 0x01, 0x96, 0x69, 0x00, 0xAA, 0x96, 0x69,
    0xF5, 0x00, 0x00, 0x00, 0xAA, 0x96, 0x69, 0x00, 0x96, 0x69,
];

/// Was a bug (found by fuzzing `sam_frame` in strict mode, now fixed):
/// `idcard::frame::decode` answered `Err(Preamble)` when the buffer, at least
/// 5 bytes long and without a whole preamble, ends in `AA AA AA 96`, although
/// the next read can complete the preamble: its own comment says it keeps
/// waiting then, but it only checks for a trailing `AA`
/// (`buf.ends_with(&[0xAA])` in `decode`). `idcard::reader` fails the command
/// on that error, so a response read in two pieces split right after its
/// `96`, with any stray byte before it, is lost.
#[test]
fn sam_read_split_after_96_waits_for_the_rest() {
    let stream = [0x92, 0xAA, 0xAA, 0xAA, 0x96, 0x69, 0x00, 0x01, 0x01];
    assert_eq!(frame::decode(&stream), Ok(Some((9, vec![]))));
    assert_eq!(
        frame::decode(&stream[..5]),
        Ok(None),
        "AA AA AA 96 at the end may still become a preamble"
    );
    checks::sam_frame(&SAM_SPLIT_PREAMBLE, true);
}

/// Was an issue (found while writing the `Doc` round trip, now fixed by
/// `escpos::doc::for_paper`): `Doc` put control characters of its
/// strings on the paper as they are, so text from outside (a HIS field) can
/// carry printer commands. Here a name cuts the paper.
#[test]
fn doc_text_cannot_carry_escpos_commands() {
    let mut d = Doc::new(48);
    d.text("张\x1dVA\x00三");
    let r = parse(&d.to_escpos().expect("encodable")).expect("parses");
    assert_eq!(r.cuts(), 0, "a control sequence in the text cut the paper");
}

/// Seed corpora for the fuzz targets, from the valid inputs above:
/// `cargo test -p kiosk-drivers --test garbage -- --ignored --exact write_fuzz_seeds`
/// (re)writes fuzz/seeds/<target>/, which scripts/fuzz.sh passes to cargo fuzz.
#[test]
#[ignore = "writes fuzz/seeds; run by hand"]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let mut rng = Rng::new(7);
    let scanner: Vec<Vec<u8>> = (0..8)
        .map(|_| scanner_input(&mut rng, &scanner_codes()))
        .collect();
    let escpos: Vec<Vec<u8>> = escpos_jobs();
    for (target, inputs) in [
        ("sam_frame", sam_valid()),
        ("scanner_framing", scanner),
        ("escpos_parse", escpos),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, input) in inputs.iter().enumerate() {
            std::fs::write(dir.join(format!("valid-{i:02}")), input).unwrap();
        }
    }
}
