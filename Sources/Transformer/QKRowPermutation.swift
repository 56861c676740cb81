/// GGUF's q/k row permutation for `llama` models, as a named transform.
///
/// Hugging Face checkpoints rotate halves: within a head of `d` rows, row `i < d/2` pairs with
/// row `i + d/2`. llama.cpp's converter reorders each head's rows so that pairs are adjacent
/// (interleaved RoPE): GGUF row `2i` is HF row `i`, GGUF row `2i + 1` is HF row `i + d/2`.
/// Qwen2 GGUFs are not permuted. Applying `toHuggingFace` to a GGUF llama q/k weight (or bias)
/// gives the Hugging Face tensor, and `toGGUF` is its inverse; rotate-halves RoPE on the former
/// equals interleaved RoPE on the latter.
public enum QKRowPermutation {
    /// GGUF (interleaved) row order → Hugging Face (halves) row order. `values`: `[heads·d, columns]`.
    public static func toHuggingFace(_ values: [Float], heads: Int, columns: Int) -> [Float] {
        permute(values, heads: heads, columns: columns, interleavedToHalves: true)
    }

    /// Hugging Face (halves) row order → GGUF (interleaved) row order. `values`: `[heads·d, columns]`.
    public static func toGGUF(_ values: [Float], heads: Int, columns: Int) -> [Float] {
        permute(values, heads: heads, columns: columns, interleavedToHalves: false)
    }

    private static func permute(_ values: [Float], heads: Int, columns: Int, interleavedToHalves: Bool) -> [Float] {
        let rows = values.count / columns
        precondition(rows * columns == values.count && rows % (2 * heads) == 0,
                     "q/k permutation needs [heads·d, columns] with an even head dimension")
        let d = rows / heads, half = d / 2
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads {
                    for i in 0..<half {
                        // interleaved rows 2i, 2i+1  <->  halves rows i, i + d/2
                        for (inter, halves) in [(2 * i, i), (2 * i + 1, i + half)] {
                            let from = h * d + (interleavedToHalves ? inter : halves)
                            let to = h * d + (interleavedToHalves ? halves : inter)
                            for c in 0..<columns { dst[to * columns + c] = src[from * columns + c] }
                        }
                    }
                }
            }
        }
        return out
    }
}
