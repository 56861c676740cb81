import Foundation
import Pruning
import TensorCore

/// How a plan's cell stores its block linears: exported in a GGUF type by round-to-nearest
/// (``exported(_:)``; F32 is what the prune writes, any other type is converted from it without
/// pruning again), or quantized jointly with pruning (``joint(_:)``, `dlp prune --quantize`).
/// Written in plans as `f32`, `f16`, `q8_0`, `q4_0`, … and `q4_0-joint`, `q8_0-joint`.
public enum WeightFormat: Sendable, Equatable, Hashable, CustomStringConvertible {
    case exported(DType)
    case joint(JointQuantization)

    /// What a cell gets when its grid names no formats: the prune's own F32 export.
    public static let standard = WeightFormat.exported(.f32)

    /// Types a plan may name for round-to-nearest export (the ones that keep an exact zero).
    public static let exportTypes: [DType] = [.f32, .f16, .bf16, .q8_0, .q6_K, .q5_0, .q4_0]

    /// Parses `f16`, `q4_0`, `q4_0-joint` (case-insensitive).
    public static func parse(_ text: String) throws -> WeightFormat {
        let lower = text.lowercased()
        if lower.hasSuffix("-joint") {
            let type = String(lower.dropLast("-joint".count))
            guard let q = JointQuantization(rawValue: type) else {
                throw WeightFormatError(reason: "'\(text)' is not a weight format: joint quantization is q4_0-joint or q8_0-joint")
            }
            return .joint(q)
        }
        guard let type = exportTypes.first(where: { $0.rawValue.lowercased() == lower }) else {
            throw WeightFormatError(reason: "'\(text)' is not a weight format; valid: " + exportTypes.map { $0.rawValue.lowercased() }.joined(separator: ", ")
                                                 + ", q4_0-joint, q8_0-joint (q4_1, q5_1 and the k-quants other than q6_k lose the zeros)")
        }
        return .exported(type)
    }

    /// As plans write it: `q4_0`, `q4_0-joint`.
    public var description: String {
        switch self {
        case .exported(let type): return type.rawValue.lowercased()
        case .joint(let q): return "\(q.rawValue)-joint"
        }
    }

    /// Suffix of a cell's folder name: empty for F32 (folders from before formats existed), else
    /// `-q4_0`, `-q4_0-joint`.
    public var folderSuffix: String { self == .standard ? "" : "-\(description)" }

    /// How tables head the column: `F32`, `Q4_0`, `Q4_0 joint`.
    public var label: String {
        switch self {
        case .exported(let type): return type.rawValue.uppercased()
        case .joint(let q): return "\(q.rawValue.uppercased()) joint"
        }
    }

    /// Column order in tables: wide types first, joint after its round-to-nearest twin.
    var sortOrder: Double {
        let bits: Double = switch dtype {
        case .f32: 32
        case .f16, .bf16: 16
        case .q8_0: 8.5
        case .q6_K: 6.56
        case .q5_0: 5.5
        default: 4.5
        }
        if case .joint = self { return -bits + 0.1 }
        return -bits
    }

    /// The GGUF type the linears end up in.
    public var dtype: DType {
        switch self {
        case .exported(let type): return type
        case .joint(let q): return q.dtype
        }
    }
}

/// Why a weight format does not parse (the plan reader names the file and key).
struct WeightFormatError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
