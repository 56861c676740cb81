import Foundation

/// Builders of small, possibly malformed, safetensors files for reader tests.
public enum SafetensorsTestFiles {
    /// A fresh empty directory under the system temporary directory.
    public static func temporaryDirectory(_ label: String = "safetensors") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("dlp-\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// `[u64 LE header length][header][data]`. The header is padded with spaces to a multiple of
    /// 8 bytes unless `pad` is false; `declaredLength` overrides the length prefix.
    public static func bytes(header: String, data: [UInt8], pad: Bool = true, declaredLength: UInt64? = nil) -> [UInt8] {
        var json = Array(header.utf8)
        if pad { json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8) }
        var result: [UInt8] = []
        withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian) { result.append(contentsOf: $0) }
        return result + json + data
    }

    /// Writes `bytes(header:data:...)` with `dataCount` bytes of data (0, 1, 2, ... mod 256) to
    /// `name` in `directory` and returns its URL.
    @discardableResult
    public static func write(header: String, dataCount: Int, in directory: URL, name: String = "test.safetensors",
                             pad: Bool = true, declaredLength: UInt64? = nil) throws -> URL {
        let data = (0..<dataCount).map { UInt8(truncatingIfNeeded: $0) }
        let url = directory.appendingPathComponent(name)
        try Data(bytes(header: header, data: data, pad: pad, declaredLength: declaredLength)).write(to: url)
        return url
    }

    /// A header entry `"name":{"dtype":...,"shape":[...],"data_offsets":[begin,end]}` (no braces around).
    public static func entry(_ name: String, _ dtype: String, _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        let dims = shape.map(String.init).joined(separator: ",")
        return "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":[\(dims)],\"data_offsets\":[\(begin),\(end)]}"
    }
}
