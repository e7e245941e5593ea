/*
 * Loaded (LD_PRELOAD) into programs that the memcheck tests run, never into the library.
 *
 * ring's gcm_ghash_avx (its copy of OpenSSL's ghash-x86_64 AVX code) takes, for inputs shorter
 * than 128 bytes, a path that copies xmm0-xmm2 into its accumulators before writing them and
 * later XORs the same xmm0-xmm2 back in: x ^ x, so the caller's leftovers in those scratch
 * registers never reach the result. memcheck does not know that two registers hold equal
 * values; if the caller left undefined bits there (a Rust struct copy moves padding through
 * xmm0-xmm2), memcheck marks the GHASH state undefined, and with it every AES-GCM tag computed
 * from it: "Conditional jump ... in ring::aead open_within" and "sendto(msg) points to
 * uninitialised byte(s)". valgrind/README.md has the proof (valgrind/ring-ghash-repro).
 *
 * The wrapper clears xmm0-xmm2 and calls the original. No value the function computes changes;
 * its real inputs (Xi, the key table, the data) are still tracked, so an undefined input of ours
 * is still reported. Matched: ring_core_<version>__gcm_ghash_avx, a local symbol of libaiot
 * (which has no soname: NONE), Z-encoded below.
 */
#include <stddef.h>
#include <stdint.h>
#include <valgrind/valgrind.h>

void I_WRAP_SONAME_FNNAME_ZZ(NONE, ringZucoreZuZaZuZugcmZughashZuavx)(uint8_t *xi, const void *htable,
                                                                        const uint8_t *in, size_t len)
{
    OrigFn fn;
    VALGRIND_GET_ORIG_FN(fn);
    __asm__ volatile("vpxor %%xmm0, %%xmm0, %%xmm0\n\t"
                     "vpxor %%xmm1, %%xmm1, %%xmm1\n\t"
                     "vpxor %%xmm2, %%xmm2, %%xmm2" ::: "xmm0", "xmm1", "xmm2");
    CALL_FN_v_WWWW(fn, xi, htable, in, len);
}
