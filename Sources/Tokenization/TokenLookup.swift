/// Token id by exact UTF-8 bytes, without allocating a key per lookup.
///
/// Open addressing (linear probing, FNV-1a hash) over the tokens' bytes stored end to end; the
/// table is at least twice the vocabulary, so probes stay short. The lowest id wins on duplicates.
struct TokenLookup: Sendable {
    private let storage: [UInt8]
    private let starts: [Int]       // [count + 1]: token i is storage[starts[i] ..< starts[i + 1]]
    private let slots: [Int32]      // -1 empty
    private let mask: Int

    init(_ tokens: [String]) {
        var storage: [UInt8] = []
        var starts: [Int] = [0]
        starts.reserveCapacity(tokens.count + 1)
        for token in tokens {
            storage.append(contentsOf: token.utf8)
            starts.append(storage.count)
        }
        var size = 16
        while size < tokens.count * 2 { size <<= 1 }
        var slots = [Int32](repeating: -1, count: size)
        storage.withUnsafeBufferPointer { buffer in
            for id in 0..<tokens.count {
                let range = starts[id]..<starts[id + 1]
                var slot = TokenLookup.hash(UnsafeBufferPointer(rebasing: buffer[range])) & (size - 1)
                while true {
                    let existing = slots[slot]
                    if existing < 0 { slots[slot] = Int32(id); break }
                    let other = starts[Int(existing)]..<starts[Int(existing) + 1]
                    if buffer[other].elementsEqual(buffer[range]) { break }
                    slot = (slot + 1) & (size - 1)
                }
            }
        }
        self.storage = storage
        self.starts = starts
        self.slots = slots
        mask = size - 1
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// The id of the token whose bytes are exactly `bytes`, if any.
    @inline(__always)
    func id(of bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        var slot = TokenLookup.hash(bytes) & mask
        return storage.withUnsafeBufferPointer { buffer -> Int32? in
            guard let base = buffer.baseAddress else { return nil }
            while true {
                let id = slots[slot]
                if id < 0 { return nil }
                let start = starts[Int(id)], end = starts[Int(id) + 1]
                if end - start == bytes.count && memcmpEqual(base + start, bytes.baseAddress, bytes.count) {
                    return id
                }
                slot = (slot + 1) & mask
            }
        }
    }

    @inline(__always)
    private func memcmpEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>?, _ count: Int) -> Bool {
        guard let b else { return count == 0 }
        for i in 0..<count where a[i] != b[i] { return false }
        return true
    }
}
