import Foundation

/// Locates the real models and data that tests run on (fetched by `make assets`, see
/// `scripts/assets.py`), and the committed fixtures.
///
/// A test that needs an asset declares `.enabled(if: TestAssets.has(...))`. When the environment
/// sets `DLP_REQUIRE_ASSETS=1` (as `.ci/run` does) a missing asset is a failure instead of a skip:
/// `TestAssets.has` returns true and the test then fails on the missing file.
public enum TestAssets {
    /// The asset cache: `$DLP_HOME`, else `~/.cache/dlp`.
    public static var home: URL {
        if let path = ProcessInfo.processInfo.environment["DLP_HOME"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/dlp")
    }

    /// Whether missing assets must fail rather than skip.
    public static var required: Bool { ProcessInfo.processInfo.environment["DLP_REQUIRE_ASSETS"] == "1" }

    /// A model file in the cache, e.g. `model("smollm2-135m")` → `models/smollm2-135m.gguf`.
    public static func model(_ name: String) -> URL {
        home.appendingPathComponent("models/\(name).gguf")
    }

    /// A data file in the cache, e.g. `data("c4.utf8")`, `data("ptb/test.txt")`.
    public static func data(_ relativePath: String) -> URL {
        home.appendingPathComponent("data/\(relativePath)")
    }

    /// The WikiText-2 test file in `../shared/data` beside the project root (tests and benchmarks only).
    public static var wikitext2Test: URL {
        projectRoot.deletingLastPathComponent().appendingPathComponent("shared/data/wikitext-2-raw/wiki.test.raw")
    }

    /// Whether every file exists, or assets are required (so the test runs and fails loudly).
    public static func has(_ files: URL...) -> Bool {
        required || files.allSatisfy { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// The package root (the directory holding `Package.swift`).
    public static var projectRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `dlp` executable built beside the test bundle (`swift test` builds it with the tests),
    /// for tests that compare the command line with the library.
    public static var dlpExecutable: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
        var folder = bundle.deletingLastPathComponent()
        // The bundle may be a directory (`dlpPackageTests.xctest/...`); walk up to the build folder.
        while folder.path != "/", !FileManager.default.fileExists(atPath: folder.appendingPathComponent("dlp").path),
              folder.lastPathComponent.hasSuffix(".xctest") || folder.path.contains(".xctest") {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("dlp")
    }

    /// A committed fixture under `Tests/Fixtures/`.
    public static func fixture(_ relativePath: String) -> URL {
        projectRoot.appendingPathComponent("Tests/Fixtures/\(relativePath)")
    }
}
