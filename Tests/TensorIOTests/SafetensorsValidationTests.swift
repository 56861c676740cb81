import Foundation
import Testing
import TensorCore
import TensorIO
import _TestSupport

/// One test per way a safetensors file can be malformed: each builds a small file that is valid
/// except for that one defect and checks the typed error, its fields and that the message names
/// the file.
@Suite final class SafetensorsValidationTests {
    let directory: URL

    init() throws { directory = try SafetensorsTestFiles.temporaryDirectory("validation") }

    deinit { try? FileManager.default.removeItem(at: directory) }

    private func openError(_ url: URL) -> SafetensorsError? {
        do {
            _ = try SafetensorsFile(url: url)
            return nil
        } catch {
            return error
        }
    }

    /// Writes a file whose header is `{entries}` and returns the error opening it.
    private func error(header: String, dataCount: Int, pad: Bool = true) throws -> SafetensorsError {
        let url = try SafetensorsTestFiles.write(header: header, dataCount: dataCount, in: directory, pad: pad)
        let error = try #require(openError(url))
        #expect(error.description.contains(url.path))
        return error
    }

    private func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        SafetensorsTestFiles.entry(name, dtype, shape, begin, end)
    }

    @Test func missingFileCannotOpen() throws {
        let error = try #require(openError(directory.appendingPathComponent("absent.safetensors")))
        guard case .cannotOpen = error else { Issue.record("got \(error)"); return }
    }

    @Test func fileShorterThanEightBytes() throws {
        let url = directory.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3, 4, 5]).write(to: url)
        let error = try #require(openError(url))
        guard case .fileTooShort(_, let size) = error else { Issue.record("got \(error)"); return }
        #expect(size == 5)
    }

    @Test func headerLengthPastEndOfFile() throws {
        let url = try SafetensorsTestFiles.write(header: "{}", dataCount: 0, in: directory, declaredLength: 1_000)
        let error = try #require(openError(url))
        guard case .headerLengthInvalid(_, let declared, let available, _) = error else { Issue.record("got \(error)"); return }
        #expect(declared == 1_000)
        #expect(available == 8)
    }

    @Test func headerLengthOverLimit() throws {
        // A sparse file large enough to hold the declared header, so only the 100 MB limit trips.
        let url = try SafetensorsTestFiles.write(header: "{}", dataCount: 0, in: directory, declaredLength: 100_000_001)
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: 100_000_016)
        try handle.close()
        let error = try #require(openError(url))
        guard case .headerLengthInvalid(_, let declared, _, let limit) = error else { Issue.record("got \(error)"); return }
        #expect(declared == 100_000_001)
        #expect(limit == 100_000_000)
    }

    @Test func invalidJSON() throws {
        let error = try error(header: "{\"a\": }", dataCount: 0)
        guard case .invalidHeaderJSON(_, let detail) = error else { Issue.record("got \(error)"); return }
        #expect(detail.contains("byte 6"))
    }

    @Test func invalidUTF8InHeader() throws {
        let url = directory.appendingPathComponent("utf8.safetensors")
        var bytes = SafetensorsTestFiles.bytes(header: "{\"__metadata__\":{\"k\":\"v?\"}}", data: [])
        bytes[try #require(bytes.firstIndex(of: UInt8(ascii: "?")))] = 0xFF
        try Data(bytes).write(to: url)
        let error = try #require(openError(url))
        guard case .invalidHeaderJSON(_, let detail) = error else { Issue.record("got \(error)"); return }
        #expect(detail.contains("UTF-8"))
    }

    @Test(arguments: ["[1, 2]", " {}", "", "\"text\""])
    func headerNotAnObject(header: String) throws {
        let error = try error(header: header, dataCount: 0, pad: false)
        guard case .headerNotObject = error else { Issue.record("got \(error)"); return }
    }

    @Test(arguments: [
        ("\"w\":[1]", "not an object"),
        ("\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}", "missing \"dtype\""),
        ("\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}", "missing \"shape\""),
        ("\"w\":{\"dtype\":\"F32\",\"shape\":[2]}", "missing \"data_offsets\""),
        ("\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}", "\"dtype\" is number"),
        ("\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}", "\"shape\" is string"),
        ("\"w\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}", "not an integer"),
        ("\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}", "negative dimension -2"),
        ("\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}", "not [begin, end]"),
        ("\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}", "negative"),
    ])
    func malformedEntry(body: String, expectedDetail: String) throws {
        let error = try error(header: "{\(body)}", dataCount: 8)
        guard case .malformedEntry(_, let tensor, let detail) = error else { Issue.record("got \(error)"); return }
        #expect(tensor == "w")
        #expect(detail.contains(expectedDetail), "\(detail)")
    }

    @Test func unknownDType() throws {
        let error = try error(header: "{\(entry("w", "F7", [2], 0, 8))}", dataCount: 8)
        #expect(error == .unknownDType(file: directory.appendingPathComponent("test.safetensors").path, tensor: "w", dtype: "F7"))
    }

    @Test func unsupportedDTypeOpensButDoesNotDecode() throws {
        let header = "{\(entry("ids", "I64", [2], 0, 16)),\(entry("w", "F32", [2], 16, 24))}"
        let url = try SafetensorsTestFiles.write(header: header, dataCount: 24, in: directory)
        let file = try SafetensorsFile(url: url)
        #expect(file.tensors.map(\.name) == ["w"])
        #expect(file.entries.map(\.name) == ["ids", "w"])
        do {
            _ = try file.floats("ids")
            Issue.record("decoding I64 succeeded")
        } catch {
            #expect(error == .unsupportedDType(file: url.path, tensor: "ids", dtype: "I64"))
            #expect(error.description.contains("unsupported dtype I64 for tensor \"ids\""))
        }
    }

    @Test func offsetsEndBeforeBegin() throws {
        let error = try error(header: "{\(entry("w", "F32", [2], 8, 0))}", dataCount: 8)
        guard case .reversedOffsets(_, "w", 8, 0) = error else { Issue.record("got \(error)"); return }
    }

    @Test func offsetsPastEndOfFile() throws {
        let error = try error(header: "{\(entry("w", "F32", [4], 0, 16))}", dataCount: 12)
        guard case .offsetsPastEnd(_, "w", 16, 12) = error else { Issue.record("got \(error)"); return }
    }

    @Test func byteSizeDiffersFromShape() throws {
        let error = try error(header: "{\(entry("w", "F16", [2, 3], 0, 8))}", dataCount: 8)
        guard case .sizeMismatch(_, "w", "F16", [2, 3], 12, 8) = error else { Issue.record("got \(error)"); return }
        #expect(error.description.contains("needs 12 bytes"))
    }

    @Test func shapeProductOverflowIsASizeMismatch() throws {
        let huge = Int.max / 2
        let error = try error(header: "{\(entry("w", "F32", [huge, 4], 0, 8))}", dataCount: 8)
        guard case .sizeMismatch(_, "w", _, _, nil, 8) = error else { Issue.record("got \(error)"); return }
    }

    @Test func overlappingTensors() throws {
        let header = "{\(entry("a", "F32", [2], 0, 8)),\(entry("b", "F32", [2], 4, 12))}"
        let error = try error(header: header, dataCount: 12)
        guard case .overlappingTensors(_, "a", 0..<8, "b", 4..<12) = error else { Issue.record("got \(error)"); return }
    }

    @Test func duplicateTensorNames() throws {
        let header = "{\(entry("a", "F32", [2], 0, 8)),\(entry("a", "F32", [2], 8, 16))}"
        let error = try error(header: header, dataCount: 16)
        guard case .duplicateTensor(_, "a") = error else { Issue.record("got \(error)"); return }
    }

    @Test func duplicateKeyInsideEntryIsInvalidJSON() throws {
        let header = "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,8]}}"
        let error = try error(header: header, dataCount: 8)
        guard case .invalidHeaderJSON(_, let detail) = error else { Issue.record("got \(error)"); return }
        #expect(detail.contains("duplicate key \"dtype\""))
    }

    @Test func holeBetweenTensors() throws {
        let header = "{\(entry("a", "F32", [2], 0, 8)),\(entry("b", "F32", [2], 12, 20))}"
        let error = try error(header: header, dataCount: 20)
        guard case .uncoveredData(_, 8..<12, 20) = error else { Issue.record("got \(error)"); return }
    }

    @Test func trailingBytesAfterLastTensor() throws {
        let error = try error(header: "{\(entry("a", "F32", [2], 0, 8))}", dataCount: 10)
        guard case .uncoveredData(_, 8..<10, 10) = error else { Issue.record("got \(error)"); return }
    }

    @Test func metadataMustMapStringsToStrings() throws {
        let error = try error(header: "{\"__metadata__\":{\"step\":3}}", dataCount: 0)
        guard case .invalidMetadata(_, let detail) = error else { Issue.record("got \(error)"); return }
        #expect(detail.contains("\"step\""))
    }

    @Test func unknownTensorName() throws {
        let url = try SafetensorsTestFiles.write(header: "{\(entry("a", "F32", [2], 0, 8))}", dataCount: 8, in: directory)
        let file = try SafetensorsFile(url: url)
        #expect(throws: SafetensorsError.tensorNotFound(file: url.path, tensor: "b")) { try file.floats("b") }
    }

    /// Every truncation and a few hundred single-byte corruptions of a valid file either open or
    /// throw `SafetensorsError`; none traps.
    @Test func truncationsAndCorruptionsNeverCrash() throws {
        let header = "{\"__metadata__\":{\"k\":\"v\"},\(entry("a", "F16", [3], 0, 6)),\(entry("b", "BF16", [1], 6, 8))}"
        let valid = SafetensorsTestFiles.bytes(header: header, data: Array(0..<8))
        let url = directory.appendingPathComponent("fuzz.safetensors")
        var generator = SeededGenerator(seed: 7)
        var variants = (0..<valid.count).map { Array(valid[..<$0]) }
        for _ in 0..<300 {
            var corrupted = valid
            corrupted[Int.random(in: 0..<valid.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            variants.append(corrupted)
        }
        for bytes in variants {
            try Data(bytes).write(to: url)
            if let file = try? SafetensorsFile(url: url) {
                for tensor in file.tensors { _ = try? file.floats(tensor.name) }
            }
        }
    }
}
