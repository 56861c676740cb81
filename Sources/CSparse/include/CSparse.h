// Inner loops of the sparse runtime and of attention that Swift cannot express (AVX-512 expands,
// AVX2 permutes, register-blocked attention tiles). Everything around them — formats, threading, dispatch — is Swift (module Sparse).
// Each kernel has a plain Swift twin (`SparseMatrix.referenceMultiply`) that tests compare it to.
//
// Bitmask layout (compressed-tensors "sparse-bitmask"): `mask` holds `rows` rows of `stride` =
// ceil(cols / 8) bytes; bit b of byte j of a row is column 8j + b (least significant first).
// `values` holds the non-zeros row after row; `offsets[r]` is the index of row r's first one.
// `values` must be readable for 64 bytes past its last element (the AVX2 kernels load whole
// vectors and discard the lanes they do not use).
#ifndef CSPARSE_H
#define CSPARSE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Feature bits of the running CPU (cpuid, checked by the compiler runtime).
enum {
    CSPARSE_AVX2 = 1,        // AVX2 + FMA + F16C
    CSPARSE_AVX512 = 2,      // AVX-512 F, BW, VL
    CSPARSE_AVX512VBMI2 = 4, // vpexpandw (16-bit expand)
    CSPARSE_AVX512BF16 = 8,  // vdpbf16ps
    CSPARSE_AVX512VNNI = 16, // vpdpbusd
};

/// The features of this CPU, as the bits above.
int csparse_cpu_features(void);

/// Value types of the packed non-zeros.
enum { CSPARSE_F32 = 0, CSPARSE_F16 = 1, CSPARSE_BF16 = 2 };

typedef struct {
    const uint8_t *mask;
    const void *values;
    const int64_t *offsets;
    int64_t rows;
    int64_t cols;
    int64_t stride;
    int32_t type;
} csparse_matrix;

/// y[r] = Σ_c W[r, c] · x[c] for rows r0 ..< r1 of a bitmask matrix.
void csparse_gemv_avx512(const csparse_matrix *m, const float *x, float *y, int64_t r0, int64_t r1);
void csparse_gemv_avx2(const csparse_matrix *m, const float *x, float *y, int64_t r0, int64_t r1);

/// Tokens per tile of ``csparse_gemm_tile_avx2``.
enum { CSPARSE_TILE_TOKENS = 64 };

/// One tile of 64 tokens through rows r0 ..< r1 of an f32 bitmask matrix `m` (`[rows, cols]`):
/// `yt[(r - r0)·64 + t] = Σ_c W[r, c] · xt[c·64 + t]`, the input tile token-minor (`[cols, 64]`,
/// zero rows for absent tokens) and so the output (`[r1 - r0, 64]`). `cursor` is scratch of
/// `r1 - r0` entries. Sums run over each row's non-zeros in column order.
void csparse_gemm_tile_avx2(const csparse_matrix *m, const float *xt, float *yt, int64_t r0, int64_t r1,
                            int64_t *cursor);
/// `xt[c·64 + t] = x[t·ldx + c]` for the first `tokens` (≤ 64) rows of `x`; the other token
/// lanes zero.
void csparse_tile_load(const float *x, int64_t ldx, int64_t tokens, int64_t cols, float *xt);
/// Rows r0 ..< r1 of an output tile back to token-major `y` (row stride `ldy`), first `tokens`
/// lanes: `y[t·ldy + r] = (accumulate ? y[t·ldy + r] : 0) + yt[(r - r0)·64 + t] (+ bias[r])`.
void csparse_tile_store(const float *yt, int64_t r0, int64_t r1, int64_t tokens, float *y, int64_t ldy,
                        const float *bias, int accumulate);

/// y[r] = Σ_c W[r, c] · x[c] for rows r0 ..< r1 of a dense row-major matrix of 16-bit values
/// (`type` CSPARSE_F16 or CSPARSE_BF16), the dense baseline of the same value type.
void csparse_dense_gemv16_avx512(const uint16_t *w, int32_t type, int64_t cols, const float *x, float *y,
                                 int64_t r0, int64_t r1);
void csparse_dense_gemv16_avx2(const uint16_t *w, int32_t type, int64_t cols, const float *x, float *y,
                               int64_t r0, int64_t r1);

/// y[r] = Σ_c W[r, c] · x[c] for rows r0 ..< r1 of a dense row-major f32 matrix.
void csparse_dense_gemv32_avx512(const float *w, int64_t cols, const float *x, float *y, int64_t r0, int64_t r1);
void csparse_dense_gemv32_avx2(const float *w, int64_t cols, const float *x, float *y, int64_t r0, int64_t r1);

/// bf16 linear layers `Y = X · Wᵀ` with f32 accumulation (AVX512_BF16). The reduction dimension
/// `k` is taken in pairs (`csparse_bf16_pairs(k)`, the last pair zero-padded when `k` is odd).
int64_t csparse_bf16_pairs(int64_t k);
/// bf16 values (uint16) a packed `[n, k]` weight takes: panels of 32 columns, zero-padded.
int64_t csparse_bf16_packed_count(int64_t n, int64_t k);
/// Packs the row-major f32 weight `w` `[n, k]` (a linear's `[out, in]`), rounding to nearest even.
void csparse_bf16_pack_weight(const float *w, int64_t n, int64_t k, uint16_t *packed);
/// Rows `x[r, 0..<k]` (row stride `ldx`) to bf16 rows of `2·csparse_bf16_pairs(k)` values.
void csparse_bf16_convert_rows(const float *x, int64_t m, int64_t k, int64_t ldx, uint16_t *out);
/// Rows `r0 ..< r1` of `Y = X · Wᵀ` (or `Y += X · Wᵀ` when `accumulate`): `x` converted rows,
/// `packed` the packed weight of `n` outputs, `y` row stride `ldy`. Each output is one f32 sum
/// over all pairs in order, whatever the row range: results do not depend on how rows are split.
void csparse_gemm_bf16_avx512(const uint16_t *x, int64_t k, const uint16_t *packed, int64_t n,
                              float *y, int64_t ldy, int accumulate, int64_t r0, int64_t r1);

/// Floats of scratch `csparse_attention_tile_avx2` needs for `heads` heads of `rows` rows.
int64_t csparse_attention_tile_scratch(int64_t heads, int64_t rows, int64_t d);

/// Fused causal attention (AVX2 + FMA) of one tile: query rows `0 ..< rows` of the `heads`
/// consecutive query heads that share one key/value head, row `i` at position `position + i`.
/// Query row `i`, head `h` is `q + i·q_stride + h·d`; key and value row `s` (positions
/// `0 ..< position + rows`) are `k + s·kv_stride` and `v + s·kv_stride`; the context row is written
/// to `context + i·context_stride + h·d`. `d` must be a multiple of 8. Online softmax over key
/// blocks of 64; `scratch` holds `csparse_attention_tile_scratch(heads, rows, d)` floats.
void csparse_attention_tile_avx2(const float *q, int64_t q_stride, int64_t heads, int64_t rows, int64_t position,
                                 const float *k, const float *v, int64_t kv_stride, int64_t d, float scale,
                                 float *context, int64_t context_stride, float *scratch);

/// Floats of scratch `csparse_attention_tile_bf16` needs.
int64_t csparse_attention_tile_bf16_scratch(int64_t heads, int64_t rows, int64_t d);

/// The same tile as `csparse_attention_tile_avx2` with both products in bf16 (AVX512_BF16
/// `vdpbf16ps`; queries, keys, values and probabilities rounded to bf16, scores, softmax and
/// accumulators f32). `d` must be a multiple of 16.
void csparse_attention_tile_bf16(const float *q, int64_t q_stride, int64_t heads, int64_t rows, int64_t position,
                                 const float *k, const float *v, int64_t kv_stride, int64_t d, float scale,
                                 float *context, int64_t context_stride, float *scratch);

/// Decode attention of `heads` query heads over `n` cached positions (AVX2 + FMA); head `j` reads
/// the key/value head `j / group` at offset `(j / group)·d` of each cached row (rows `stride`
/// apart), so one sweep over the rows serves every head. Scores: `scores[j·n + s] = scale ·
/// q[j·d ..]·k[s]`; values: `out[j·d ..] = Σ_s p[j·n + s] · v[s]` for the softmaxed `p` the
/// caller writes in between.
void csparse_attention_scores_avx2(const float *q, int64_t heads, int64_t group, const float *k, int64_t n, int64_t d,
                                   int64_t stride, float scale, float *scores);
void csparse_attention_values_avx2(const float *p, int64_t heads, int64_t group, const float *v, int64_t n, int64_t d,
                                   int64_t stride, float *out);

/// A spin-wait hint (`pause`), for threads waiting on a flag another core sets.
void csparse_pause(void);

/// Rows r0 ..< r1 of a bitmask matrix written dense as f32, row after row, to `out`
/// (`[r1 - r0, cols]`): the tile a prefill GEMM multiplies.
void csparse_expand_avx512(const csparse_matrix *m, float *out, int64_t r0, int64_t r1);
void csparse_expand_avx2(const csparse_matrix *m, float *out, int64_t r0, int64_t r1);

/// `count` 16-bit values (`type` CSPARSE_F16 or CSPARSE_BF16) widened to f32.
void csparse_widen16_avx2(const uint16_t *w, int32_t type, int64_t count, float *out);

/// Quantized types of ``csparse_qmatrix`` values: int8 on the Q8_0 grid, 4-bit on the Q4_0 grid.
/// At most CSPARSE_Q_MAX_COLS columns (the kernels keep a row's scales on the stack).
enum { CSPARSE_Q8_0 = 3, CSPARSE_Q4_0 = 4, CSPARSE_Q_MAX_COLS = 131072 };

/// A weight matrix with quantized values and one f16 scale per 32 columns of each row (ggml's
/// Q8_0 / Q4_0 blocks): W[r, c] = scales[r·groups + c/32] · (code − offset), offset 128 for
/// Q8_0 (codes = q + 128) and 8 for Q4_0 (codes = ggml's nibbles). `cols` is a multiple of 32.
/// Sparse (`mask` non-null, the bitmask layout above) or dense (`mask` null: every weight stored).
/// Codes of a row, 64 columns (two groups) after 64 columns: Q8_0 one byte per stored weight;
/// Q4_0 one nibble per stored weight, two per byte (low nibble first), each 64 columns starting
/// on a whole byte (a row's last group, when the group count is odd, alone). `offsets[r]` is the
/// byte offset of row r's codes; `values` must be readable 64 bytes past the last one.
typedef struct {
    const uint8_t *mask;
    const uint8_t *values;
    const uint16_t *scales;
    const int64_t *offsets;
    int64_t rows;
    int64_t cols;
    int64_t stride;
    int32_t type;
} csparse_qmatrix;

/// y[r] = Σ_g scale[r, g] · xd[g] · Σ_{c in group g} q[r, c] · xq[c] for rows r0 ..< r1, with `x`
/// quantized per 32 columns (int8 `xq`, its negation `xn`, scales `xd`, as llama.cpp's Q8
/// activations). The AVX-512 kernel needs VBMI2 (byte expand) and VNNI; the AVX2 one expands with
/// a shuffle table.
void csparse_qgemv_avx512(const csparse_qmatrix *m, const int8_t *xq, const int8_t *xn, const float *xd, float *y,
                          int64_t r0, int64_t r1);
void csparse_qgemv_avx2(const csparse_qmatrix *m, const int8_t *xq, const float *xd, float *y, int64_t r0, int64_t r1);

/// Rows r0 ..< r1 of a quantized matrix dequantized to f32 (`[r1 - r0, cols]`) into `out`.
void csparse_qexpand_avx2(const csparse_qmatrix *m, float *out, int64_t r0, int64_t r1);

/// `n` values (a multiple of 32) quantized per 32: scales[g] = max|x| / 127 over group g,
/// codes = x / scale rounded half away from zero (0 for an all-zero group); `negated` (may be
/// null) receives −codes.
void csparse_quantize_vector_avx2(const float *x, int64_t n, int8_t *codes, int8_t *negated, float *scales);

/// Reads `bytes` bytes of `data` with vector loads and returns a checksum (a memory-bandwidth probe).
double csparse_read_bandwidth_probe(const float *data, int64_t count);

#ifdef __cplusplus
}
#endif

#endif
