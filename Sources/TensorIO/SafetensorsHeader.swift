/// The parsed and validated header of a safetensors file.
///
/// Layout (the format's specification, huggingface/safetensors `README.md`):
///
///     [u64 little-endian N][N bytes of UTF-8 JSON, padded with spaces][data section]
///
/// The JSON is an object mapping tensor names to `{"dtype", "shape", "data_offsets": [begin, end]}`,
/// plus an optional `"__metadata__"` string → string map. Offsets are relative to the data section.
///
/// Validation follows the specification strictly: the JSON must start with `{`; keys are unique;
/// every byte size equals elements × dtype size; tensors tile the data section exactly, with no
/// overlap, hole or trailing byte (as the reference implementation's `validate` requires).
struct SafetensorsHeader {
    /// Largest header accepted; the reference implementation uses the same 100 MB limit.
    static let maximumLength = 100_000_000

    /// Tensors sorted by data offset (file order).
    var tensors: [SafetensorsTensor]
    var metadata: [String: String]
    /// JSON byte count `N`.
    var length: Int

    /// File offset of the data section.
    var dataStart: Int { 8 + length }

    /// Parses the first bytes of `file` (the whole mapped file, `fileSize` bytes).
    init(file: UnsafeRawBufferPointer, path: String) throws(SafetensorsError) {
        guard file.count >= 8 else { throw .fileTooShort(file: path, size: file.count) }
        let declared = UInt64(littleEndian: file.loadUnaligned(as: UInt64.self))
        let available = file.count - 8
        guard declared <= UInt64(available), declared <= UInt64(Self.maximumLength) else {
            throw .headerLengthInvalid(file: path, declared: declared, available: available, limit: Self.maximumLength)
        }
        length = Int(declared)
        let json = UnsafeRawBufferPointer(rebasing: file[8..<(8 + length)])
        guard let first = json.first, first == UInt8(ascii: "{") else {
            throw .headerNotObject(file: path, found: json.first.map { "byte 0x\(String($0, radix: 16))" } ?? "an empty header")
        }
        let root: JSONValue
        do {
            root = try JSONValue.parse(json)
        } catch {
            if case .duplicateKey(let key, depth: 1) = error.reason { throw .duplicateTensor(file: path, tensor: key) }
            throw .invalidHeaderJSON(file: path, detail: error.description)
        }
        guard let object = root.objectValue else { throw .headerNotObject(file: path, found: root.kindName) }

        let dataSize = available - length
        metadata = [:]
        var tensors: [SafetensorsTensor] = []
        tensors.reserveCapacity(object.count)
        for (name, value) in object.members {
            if name == "__metadata__" {
                metadata = try Self.parseMetadata(value, path: path)
            } else {
                tensors.append(try Self.parseEntry(name: name, value: value, dataSize: dataSize, path: path))
            }
        }
        tensors.sort { ($0.dataOffsets.lowerBound, $0.dataOffsets.upperBound) < ($1.dataOffsets.lowerBound, $1.dataOffsets.upperBound) }
        try Self.checkTiling(tensors, dataSize: dataSize, path: path)
        self.tensors = tensors
    }

    private static func parseMetadata(_ value: JSONValue, path: String) throws(SafetensorsError) -> [String: String] {
        if value.isNull { return [:] }
        guard let object = value.objectValue else {
            throw .invalidMetadata(file: path, detail: "found \(value.kindName) instead of an object")
        }
        var metadata: [String: String] = [:]
        for (key, entry) in object.members {
            guard let text = entry.stringValue else {
                throw .invalidMetadata(file: path, detail: "value of \"\(key)\" is \(entry.kindName), not string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func parseEntry(name: String, value: JSONValue, dataSize: Int,
                                   path: String) throws(SafetensorsError) -> SafetensorsTensor {
        func malformed(_ detail: String) -> SafetensorsError { .malformedEntry(file: path, tensor: name, detail: detail) }
        guard let entry = value.objectValue else { throw malformed("entry is \(value.kindName), not an object") }
        guard let dtypeValue = entry["dtype"] else { throw malformed("missing \"dtype\"") }
        guard let dtypeName = dtypeValue.stringValue else { throw malformed("\"dtype\" is \(dtypeValue.kindName), not string") }
        guard let shapeValue = entry["shape"] else { throw malformed("missing \"shape\"") }
        guard let dims = shapeValue.arrayValue else { throw malformed("\"shape\" is \(shapeValue.kindName), not an array") }
        var shape: [Int] = []
        shape.reserveCapacity(dims.count)
        for dim in dims {
            guard case .integer(let size) = dim else { throw malformed("\"shape\" holds \(dim.serialized()), not an integer") }
            guard size >= 0 else { throw malformed("\"shape\" holds negative dimension \(size)") }
            shape.append(size)
        }
        guard let offsetsValue = entry["data_offsets"] else { throw malformed("missing \"data_offsets\"") }
        guard let offsets = offsetsValue.arrayValue, offsets.count == 2,
              case .integer(let begin) = offsets[0], case .integer(let end) = offsets[1] else {
            throw malformed("\"data_offsets\" is \(offsetsValue.serialized()), not [begin, end] integers")
        }
        guard begin >= 0 else { throw malformed("\"data_offsets\" begin \(begin) is negative") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else {
            throw .unknownDType(file: path, tensor: name, dtype: dtypeName)
        }
        guard end >= begin else { throw .reversedOffsets(file: path, tensor: name, begin: begin, end: end) }
        guard end <= dataSize else { throw .offsetsPastEnd(file: path, tensor: name, end: end, dataSize: dataSize) }
        var expected: Int? = dtype.elementSize
        for dim in shape {
            guard let bytes = expected else { break }
            let (product, overflow) = bytes.multipliedReportingOverflow(by: dim)
            expected = overflow ? nil : product
        }
        guard expected == end - begin else {
            throw .sizeMismatch(file: path, tensor: name, dtype: dtypeName, shape: shape, expected: expected, actual: end - begin)
        }
        return SafetensorsTensor(name: name, dtype: dtype, shape: shape, dataOffsets: begin..<end)
    }

    /// Tensors sorted by offset must cover `0..<dataSize` back to back.
    private static func checkTiling(_ tensors: [SafetensorsTensor], dataSize: Int, path: String) throws(SafetensorsError) {
        var cursor = 0
        var previous: SafetensorsTensor?
        for tensor in tensors {
            let range = tensor.dataOffsets
            if range.lowerBound < cursor, let previous {
                throw .overlappingTensors(file: path, first: previous.name, firstRange: previous.dataOffsets,
                                          second: tensor.name, secondRange: range)
            }
            if range.lowerBound > cursor { throw .uncoveredData(file: path, gap: cursor..<range.lowerBound, dataSize: dataSize) }
            cursor = range.upperBound
            previous = tensor
        }
        if cursor < dataSize { throw .uncoveredData(file: path, gap: cursor..<dataSize, dataSize: dataSize) }
    }
}
