import CSparse

/// Which inner loop multiplies a sparse (or dense 16-bit) matrix by a vector: the plain Swift
/// reference, AVX2 (table + permute), or AVX-512 (`vexpandps`; 16-bit values are widened to f32
/// while packed, then expanded). Chosen at run time from CPUID;
/// every fast kernel is tested against ``reference``.
public enum SparseKernel: String, Sendable, CaseIterable, CustomStringConvertible {
    case reference
    case avx2
    case avx512

    /// The CPU's feature bits (`CSPARSE_*`).
    public static let features = Int(csparse_cpu_features())

    /// Whether this CPU runs the kernel for `type`.
    public func supports(_ type: SparseValueType) -> Bool {
        switch self {
        case .reference: return true
        case .avx2: return Self.features & Int(CSPARSE_AVX2) != 0
        case .avx512: return Self.features & Int(CSPARSE_AVX512) != 0
        }
    }

    /// The fastest kernel this CPU runs for `type`.
    public static func best(for type: SparseValueType) -> SparseKernel {
        [.avx512, .avx2].first { $0.supports(type) } ?? .reference
    }

    /// The fastest kernel this CPU runs for dense 16-bit rows (``HalfMatrix``): AVX-512F suffices.
    public static var bestDense: SparseKernel { best(for: .f32) }

    /// The kernels this CPU runs for `type`, slowest first.
    public static func available(for type: SparseValueType) -> [SparseKernel] {
        allCases.filter { $0.supports(type) }
    }

    /// `AVX-512 (VBMI2, BF16)`, `AVX2`, or `no AVX2`: for benchmark headers.
    public static var cpuDescription: String {
        if features & Int(CSPARSE_AVX512) != 0 {
            var extras = [String]()
            if features & Int(CSPARSE_AVX512VBMI2) != 0 { extras.append("VBMI2") }
            if features & Int(CSPARSE_AVX512BF16) != 0 { extras.append("BF16") }
            return "AVX-512" + (extras.isEmpty ? "" : " (\(extras.joined(separator: ", ")))")
        }
        return features & Int(CSPARSE_AVX2) != 0 ? "AVX2" : "no AVX2"
    }

    public var description: String { rawValue }
}
