import TensorCore

/// The GGUF block type `dlp prune --quantize` quantizes the kept weights to, jointly with
/// pruning: GPTQ (Frantar et al., 2022) with symmetric groups of 32 consecutive inputs of a row,
/// which is exactly the ggml block of Q4_0 and Q8_0 (PAYOFF §4).
///
/// Grids, `D` the group's scale rounded to fp16 (a value is `D·k` in f32, exact):
/// - Q4_0: `D = fp16(a / −8)`, `k ∈ −8…7` (ggml: `d = max / −8`, `max` the signed value of
///   largest magnitude, `q = k + 8`);
/// - Q8_0: `D = fp16(|a| / 127)`, `k ∈ −127…127`.
///
/// `a` is the group's **anchor**, the first kept weight of largest magnitude when the group's
/// scale is fixed. The anchor is stored at the grid's end, `−8·D` (Q4_0) or `±127·D` (Q8_0, the
/// anchor's sign), whatever the error updates did to it; every other kept weight is rounded to
/// the nearest level and clamped inside the grid. So the anchor's value is the block's value of
/// largest magnitude (Q4_0: the positive end is `+7·D`, it can never tie with `+8·D`), ggml's
/// round-to-nearest quantizer (``TensorIO/quantize(_:as:)``) recomputes exactly `D` from it
/// (`−8·D / −8`, `127·D / 127`, both exact) and rounds `D·k·(1/D)` back to `k`: the exported
/// GGUF holds these values unchanged. A group whose kept weights are all 0 (or whose fp16 scale
/// underflows to 0) is all 0, as ggml's `d = 0` block.
public enum JointQuantization: String, Sendable, Codable, CaseIterable {
    case q4_0, q8_0

    /// Consecutive inputs of a row sharing one scale: the ggml block.
    public static let groupSize = 32

    /// The GGUF type the pruned linears are stored in.
    public var dtype: DType {
        switch self {
        case .q4_0: return .q4_0
        case .q8_0: return .q8_0
        }
    }

    /// Parses a CLI value (case-insensitive), listing the supported types on error.
    public static func parse(_ text: String) throws -> JointQuantization {
        guard let value = JointQuantization(rawValue: text.lowercased()) else {
            throw PruningError.invalidSetting(
                name: "joint quantization type", value: text,
                valid: allCases.map(\.rawValue).joined(separator: ", ")
                    + " (the symmetric 32-weight ggml blocks that keep a pruned weight at exactly 0)")
        }
        return value
    }

    /// The grid of a group whose anchor (first kept weight of largest magnitude) is `anchor`;
    /// nil when the fp16 scale overflows (`|anchor|` above 65504·8 or 65504·127).
    public func grid(anchor: Float) -> QuantizationGrid? {
        let unrounded: Float, lowest: Float, highest: Float, anchorLevel: Float
        switch self {
        case .q4_0:
            unrounded = anchor / -8
            (lowest, highest, anchorLevel) = (-8, 7, -8)
        case .q8_0:
            unrounded = abs(anchor) / 127
            (lowest, highest, anchorLevel) = (-127, 127, anchor < 0 ? -127 : 127)
        }
        let scale = HalfConversion.float(fromHalf: HalfConversion.half(from: unrounded))
        guard scale.isFinite else { return nil }
        return QuantizationGrid(scale: scale, lowest: lowest, highest: highest, anchorLevel: anchorLevel)
    }
}

/// The levels `D·k`, `k ∈ lowest…highest`, of one group of 32 weights (``JointQuantization``).
public struct QuantizationGrid: Sendable, Equatable {
    /// `D`, an fp16 value (may be negative for Q4_0; 0 for an all-zero group).
    public var scale: Float
    public var lowest: Float
    public var highest: Float
    /// The level of the group's anchor: the grid end ggml recomputes `D` from.
    public var anchorLevel: Float

    /// The anchor's stored value `D·anchorLevel`.
    @inline(__always) public var anchorValue: Float { scale * anchorLevel }

    /// The nearest level to `w` (half away from zero), clamped to the grid: `D·clamp(round(w/D))`.
    @inline(__always) public func nearest(_ w: Float) -> Float {
        guard scale != 0 else { return 0 }
        let k = min(max((w / scale).rounded(), lowest), highest)
        return k == 0 ? 0 : k * scale   // +0, not −0 when D < 0
    }
}
