import Foundation
import Jobs
import Pruning
import Testing
import _TestSupport
@testable import Experiments

/// Every committed manifest and results file loads into the typed model, and writing it back
/// gives the same JSON values: the enums (method, allocation, pattern, format, architecture)
/// keep the on-disk form that files written before them have.
@Suite struct CommittedFilesTests {
    static let results = TestAssets.projectRoot.appendingPathComponent("experiments/results")

    func files(named name: String) -> [URL] {
        guard let walker = FileManager.default.enumerator(at: Self.results, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.lastPathComponent == name }.sorted { $0.path < $1.path }
    }

    /// `a` and `b` hold the same JSON values (numbers compared by value).
    func sameJSON(_ a: Data, _ b: Data) throws -> Bool {
        let x = try JSONSerialization.jsonObject(with: a) as? NSDictionary
        let y = try JSONSerialization.jsonObject(with: b) as? NSDictionary
        return x != nil && x == y
    }

    /// A LoRA recovery's folder (`lora-...`, a `dlp finetune` output) holds a fine-tuning manifest.
    func isRecovery(_ url: URL) -> Bool { url.deletingLastPathComponent().lastPathComponent.hasPrefix("lora-") }

    @Test func everyManifestLoadsAndWritesBackTheSame() throws {
        let manifests = files(named: "manifest.json").filter { !isRecovery($0) }
        #expect(manifests.count >= 80, "found only \(manifests.count) committed manifests")
        for url in manifests {
            let data = try Data(contentsOf: url)
            let manifest = try JSONDecoder().decode(PruningManifest.self, from: data)
            #expect(Allocation.names.contains(manifest.settings.allocation.name))
            #expect(try sameJSON(data, try JSONEncoder().encode(manifest)), "\(url.path) changes when written back")
        }
    }

    @Test func everyFinetuneManifestLoadsAndWritesBackTheSame() throws {
        for url in files(named: "manifest.json").filter(isRecovery) {
            let data = try Data(contentsOf: url)
            let manifest = try JSONDecoder().decode(FinetuneManifest.self, from: data)
            #expect(manifest.tokensTrained > 0)
            #expect(try sameJSON(data, try JSONEncoder().encode(manifest)), "\(url.path) changes when written back")
        }
    }

    @Test func everyResultsFileLoadsAndWritesBackTheSame() throws {
        let results = files(named: "results.json")
        #expect(results.count >= 8, "found only \(results.count) committed results.json")
        for url in results {
            let data = try Data(contentsOf: url)
            let decoded = try JSONDecoder().decode(ExperimentResults.self, from: data)
            #expect(decoded.cells.allSatisfy { $0.method != nil && $0.allocation != nil && $0.pattern != nil })
            #expect(try sameJSON(data, try JSONEncoder().encode(decoded)), "\(url.path) changes when written back")
        }
    }
}
