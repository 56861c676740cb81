/// The byte layout of a safetensors file about to be written: tensor order, data offsets and the
/// padded header. Validates the plan (unique non-empty names, sizes that fit).
struct SafetensorsLayout {
    /// Tensors in the order their data is stored.
    let tensors: [SafetensorsWriter.Entry]
    /// `[u64 LE length][JSON header padded with spaces to a multiple of 8]`.
    let headerBytes: [UInt8]

    init(_ plan: [SafetensorsWriter.Entry], metadata: [String: String]) throws(SafetensorsError) {
        var seen = Set<String>()
        for tensor in plan {
            guard !tensor.name.isEmpty, tensor.name != "__metadata__" else {
                throw .invalidTensorForWriting(tensor: tensor.name, detail: "the name is empty or reserved")
            }
            guard seen.insert(tensor.name).inserted else {
                throw .invalidTensorForWriting(tensor: tensor.name, detail: "the name appears twice")
            }
            guard tensor.byteCount != nil else {
                throw .invalidTensorForWriting(tensor: tensor.name, detail: "shape \(tensor.shape) is negative or too large")
            }
        }
        // Stable sort by element size, largest first, keeps every tensor aligned to its element size.
        tensors = plan.enumerated()
            .sorted { ($1.element.dtype.elementSize, $0.offset) < ($0.element.dtype.elementSize, $1.offset) }
            .map(\.element)

        var header = JSONObject()
        var fullMetadata = metadata
        if fullMetadata["format"] == nil { fullMetadata["format"] = "pt" }
        header["__metadata__"] = .object(JSONObject(fullMetadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        var offset = 0
        for tensor in tensors {
            let size = tensor.byteCount ?? 0
            header[tensor.name] = .object(JSONObject([
                ("dtype", .string(tensor.dtype.rawValue)),
                ("shape", .array(tensor.shape.map { .integer($0) })),
                ("data_offsets", .array([.integer(offset), .integer(offset + size)])),
            ]))
            offset += size
        }
        var json = Array(JSONValue.object(header).serialized().utf8)
        json.append(contentsOf: [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: json)
        headerBytes = bytes
    }
}
