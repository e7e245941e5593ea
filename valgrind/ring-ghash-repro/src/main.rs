//! memcheck calls a correct AES-GCM tag undefined.
//!
//! ring's `gcm_ghash_avx` (AVX GHASH, used for the additional data and any data shorter than
//! 128 bytes) reads xmm0-xmm2 on entry, copies them into its accumulators and XORs the same
//! registers back in before the accumulators are used: the caller's leftovers cancel out.
//! memcheck treats `a ^ b` of two registers as undefined wherever either is, without knowing
//! that they hold the same value; so when the caller left undefined bits in xmm0-xmm2, the
//! GHASH state, the tag and everything compared with or sent from it are "uninitialised".
//!
//! `leftover` puts 48 uninitialised stack bytes into xmm0-xmm2 before each seal and open, as a
//! Rust struct copy of padding does; `defined` puts defined bytes there. Both compute the same
//! tag and the tag verifies: its value does not depend on those registers. Under memcheck,
//! `leftover` reports a conditional jump on uninitialised values in ring's `open_within` (the tag
//! comparison) and in the tag's use here; `defined` reports nothing. With
//! `LD_PRELOAD=libaiot_memcheck_preload.so` (valgrind/memcheck_preload.c) `leftover` is clean.
//! Exit status: 0 when the tag is right in every round.

use std::arch::asm;
use std::mem::MaybeUninit;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// The tag of this key, nonce, header and record (computed once, outside valgrind).
const EXPECTED_TAG: [u8; 16] = [
    0x71, 0x6c, 0xb4, 0x1a, 0xa2, 0x19, 0xd5, 0x7c, 0x46, 0x12, 0x58, 0xa5, 0x98, 0xaa, 0x5b, 0xf1,
];
/// A TLS 1.3 record header: the additional data.
const HEADER: [u8; 5] = [23, 3, 3, 0, 34];

/// Leaves xmm0-xmm2 holding the 48 bytes at `src`.
#[inline(never)]
fn fill_xmm0_2(src: *const u8) {
    // SAFETY: `src` points to 48 readable bytes; the asm only loads registers it declares.
    unsafe {
        asm!(
            "movdqu xmm0, [{p}]",
            "movdqu xmm1, [{p} + 16]",
            "movdqu xmm2, [{p} + 32]",
            p = in(reg) src,
            out("xmm0") _, out("xmm1") _, out("xmm2") _,
            options(nostack, readonly),
        );
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "leftover".into());
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7u8; 32]).unwrap());
    let nonce = || Nonce::assume_unique_for_key([9; 12]);
    let leftover = MaybeUninit::<[u8; 48]>::uninit();
    let defined = [0xa5u8; 48];
    let src: *const u8 = match mode.as_str() {
        "leftover" => leftover.as_ptr().cast(),
        "defined" => defined.as_ptr(),
        other => panic!("mode is leftover or defined, not {other}"),
    };
    let mut tags = Vec::new();
    for _ in 0..2 {
        let mut record = *b"a short TLS record";
        fill_xmm0_2(src);
        let tag = key
            .seal_in_place_separate_tag(nonce(), Aad::from(HEADER), &mut record)
            .unwrap();
        tags.push(tag.as_ref().to_vec());
        let mut whole = record.to_vec();
        whole.extend_from_slice(tag.as_ref());
        fill_xmm0_2(src);
        let opened = key.open_in_place(nonce(), Aad::from(HEADER), &mut whole).is_ok();
        assert!(opened, "the tag verifies");
    }
    let right = tags.iter().all(|t| t[..] == EXPECTED_TAG);
    println!("{mode}: tag right in every round: {right}");
    std::process::exit(if right { 0 } else { 1 });
}
