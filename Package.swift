// swift-tools-version:6.0
import PackageDescription

import Foundation

/// Release builds are numeric code: AVX2/FMA code generation for C and Swift SIMD, and
/// cross-module optimisation so small kernels inline across module boundaries. The product is
/// built `-Ounchecked`; with `DLP_CHECKED=1` (what `make test` sets, with its own scratch path)
/// it is built `-O`, keeping every `precondition` and bounds check so the tests see the failures
/// those checks guard against.
let checked = ProcessInfo.processInfo.environment["DLP_CHECKED"] == "1"
/// The fuzz build (`make fuzz`, DLP_FUZZ=1) passes `--sanitize=fuzzer --sanitize=address`, which
/// SwiftPM hands to swiftc as two `-sanitize=` flags; swiftc keeps only the last, so Swift code got
/// AddressSanitizer but no coverage counters and libFuzzer mutated blind. One combined flag after
/// them restores both.
let fuzzing = ProcessInfo.processInfo.environment["DLP_FUZZ"] == "1"
let fuzzFlags = fuzzing ? ["-sanitize=fuzzer,address"] : []
let fast: [SwiftSetting] = [
    .unsafeFlags([checked ? "-O" : "-Ounchecked", "-cross-module-optimization", "-Xcc", "-march=x86-64-v3"] + fuzzFlags,
                 .when(configuration: .release)),
]

let package = Package(
    name: "dlp",
    products: [
        .executable(name: "dlp", targets: ["dlp"]),
        .library(name: "DLPKit", targets: ["TensorCore", "Kernels", "TensorIO", "Tokenization", "Transformer",
                                                   "Evaluation", "Pruning", "Sparse", "Inference", "Jobs", "Experiments",
                                                   "Training"]),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .target(name: "TensorCore", swiftSettings: fast),
        .target(name: "Kernels", dependencies: ["TensorCore", "COpenBLAS", "CSparse"], swiftSettings: fast),
        .target(name: "CMappedFileGuard"),
        .target(name: "TensorIO", dependencies: ["TensorCore", "CMappedFileGuard"], swiftSettings: fast),
        .target(name: "Tokenization", dependencies: ["TensorIO"], swiftSettings: fast),
        .target(name: "Transformer", dependencies: ["TensorCore", "Kernels", "TensorIO", "Tokenization", "CSparse", "Sparse"],
                swiftSettings: fast),
        .target(name: "Evaluation", dependencies: ["Kernels", "Tokenization", "Transformer"], swiftSettings: fast),
        .target(name: "Pruning", dependencies: ["TensorCore", "Kernels", "TensorIO", "Tokenization", "Transformer", "Sparse"],
                swiftSettings: fast),
        .target(name: "Training", dependencies: ["TensorCore", "Kernels", "COpenBLAS", "TensorIO", "Transformer"], swiftSettings: fast),
        .target(name: "CSparse", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Sparse", dependencies: ["TensorCore", "Kernels", "TensorIO", "CSparse"], swiftSettings: fast),
        .target(name: "Inference", dependencies: ["TensorCore", "Kernels", "TensorIO", "Tokenization", "Transformer", "CSparse", "Sparse"],
                swiftSettings: fast),
        .target(name: "Jobs", dependencies: ["TensorCore", "Kernels", "TensorIO", "Tokenization", "Transformer", "Evaluation", "Pruning",
                                             "Sparse", "Inference", "Training"],
                swiftSettings: fast),
        .target(name: "Experiments", dependencies: ["TensorIO", "Transformer", "Evaluation", "Pruning", "Jobs"], swiftSettings: fast),
        .executableTarget(name: "dlp", dependencies: ["TensorCore", "Kernels", "TensorIO", "Tokenization", "Transformer",
                                                      "Evaluation", "Pruning", "CSparse", "Sparse", "Inference", "Jobs", "Experiments", "Training"],
                          swiftSettings: fast),
        .target(name: "_TestSupport", dependencies: ["TensorCore", "Kernels", "TensorIO"], swiftSettings: fast),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "TensorIOTests", dependencies: ["TensorIO", "_TestSupport"], swiftSettings: fast),
        // A child process for TruncatedWhileReadingTests: reads a tensor's mapped bytes after truncating its file.
        .executableTarget(name: "dlp-truncation-probe", dependencies: ["TensorIO"], path: "Tests/TruncationProbe"),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "TransformerTests", dependencies: ["Transformer", "Tokenization", "Sparse", "_TestSupport"],
                    swiftSettings: fast),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "PruningTests", dependencies: ["Pruning", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "SparseTests", dependencies: ["Sparse", "TensorIO", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "TensorIO", "Tokenization", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "Sparse", "Training", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "TensorIO", "_TestSupport"], swiftSettings: fast),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Jobs", "_TestSupport"], swiftSettings: fast),
    ]
)

// Fuzz harnesses (`make fuzz`): a library-less executable whose `main` is libFuzzer's, so it exists
// only in the fuzz build (DLP_FUZZ=1, built with --sanitize=fuzzer --sanitize=address).
if fuzzing {
    package.targets.append(.executableTarget(name: "dlp-fuzz", dependencies: ["TensorIO", "Tokenization", "Sparse", "Transformer",
                                                                              "Evaluation", "Experiments"],
                                             path: "Fuzz/Harness", swiftSettings: [.unsafeFlags(["-parse-as-library"] + fuzzFlags)]))
}
