import Foundation
import Pruning
import TensorCore
import TensorIO
import Tokenization

/// The text a fine-tuning run trains on, cut into windows of `T` tokens, with the calibration
/// windows of the prune that made the model held out, and a fixed set of held-out windows for
/// the held-out loss.
///
/// Procedure (deterministic given the seed):
/// 1. Read the documents of `source` (``CalibrationSource``: one per line, or `.jsonl`).
/// 2. When the prune's calibration read the same file (equal sha256), rebuild its windows with
///    the same code (``CalibrationSet``) and require their digest to equal the one its manifest
///    recorded (else the exclusion cannot be trusted: an error). Stream sampling: those windows
///    are slots `[k·Tc, (k+1)·Tc)` of the joined token stream; they are cut out of it. Document
///    sampling: each window lies inside one document; every such document is dropped whole.
/// 3. Join the remaining documents with `"\n\n"` and tokenize once (as stream calibration does);
///    cut every stretch between excluded slots into non-overlapping `T`-token windows from its
///    start (a remainder shorter than `T` is unused).
/// 4. Shuffle the windows (SplitMix64 from the seed); the first `heldOut` are the held-out set,
///    the rest train. Each epoch visits the training windows in its own seeded order
///    (``order(epoch:seed:)``).
public struct FinetuneCorpus: Sendable {
    /// Where the text came from and how it was split; recorded in the manifest.
    public struct Description: Sendable, Codable, Equatable {
        public var source: String
        public var path: String
        public var sha256: String
        public var documents: Int
        /// Documents dropped because a document-sampled calibration window lies in them.
        public var documentsExcluded: Int
        /// Tokens of the joined, tokenized remaining documents.
        public var streamTokens: Int
        /// How calibration text was excluded, in words.
        public var exclusion: String
        /// Calibration slots cut out of the stream (stream sampling), as token offsets.
        public var excludedSlots: [Int]
        public var excludedTokens: Int
        public var sequenceLength: Int
        public var trainingWindows: Int
        public var trainingTokens: Int
        /// Stream offsets of the held-out windows.
        public var heldOutOffsets: [Int]
        public var heldOutTokens: Int
        /// Tokens in no window (stretches shorter than T).
        public var unusedTokens: Int

        public init(source: String, path: String, sha256: String, documents: Int, documentsExcluded: Int, streamTokens: Int,
                    exclusion: String, excludedSlots: [Int], excludedTokens: Int, sequenceLength: Int, trainingWindows: Int,
                    trainingTokens: Int, heldOutOffsets: [Int], heldOutTokens: Int, unusedTokens: Int) {
            self.source = source
            self.path = path
            self.sha256 = sha256
            self.documents = documents
            self.documentsExcluded = documentsExcluded
            self.streamTokens = streamTokens
            self.exclusion = exclusion
            self.excludedSlots = excludedSlots
            self.excludedTokens = excludedTokens
            self.sequenceLength = sequenceLength
            self.trainingWindows = trainingWindows
            self.trainingTokens = trainingTokens
            self.heldOutOffsets = heldOutOffsets
            self.heldOutTokens = heldOutTokens
            self.unusedTokens = unusedTokens
        }
    }

    public var description: Description
    /// Training windows, `T` token ids each.
    public var training: [[Int32]]
    /// Held-out windows, `T` token ids each.
    public var heldOut: [[Int32]]

    /// The calibration a prune used, from its manifest, for exclusion.
    public struct Calibration: Sendable {
        public var settings: CalibrationSettings
        public var sourceSHA256: String
        public var windowsSHA256: String

        public init(settings: CalibrationSettings, sourceSHA256: String, windowsSHA256: String) {
            self.settings = settings
            self.sourceSHA256 = sourceSHA256
            self.windowsSHA256 = windowsSHA256
        }
    }

    public init(source: CalibrationSource, tokenizer: any Tokenizer, sequenceLength t: Int, heldOut: Int, seed: UInt64,
                excluding calibration: Calibration?) throws {
        var documents = try source.documents()
        let digest = try SHA256Digest.file(URL(fileURLWithPath: source.path))
        let documentCount = documents.count
        var exclusion = "none: the model is not a dlp prune output, so no calibration windows are known"
        var slots = [Int](), documentsExcluded = 0, excludedTokens = 0
        var ids: [Int32]
        if let calibration {
            if calibration.sourceSHA256 != digest {
                exclusion = "none needed: the prune calibrated on another file (sha256 \(calibration.sourceSHA256.prefix(12))…)"
                ids = tokenizer.encode(documents.joined(separator: "\n\n"), addSpecial: true)
            } else {
                var settings = calibration.settings
                settings.source = source
                let set = try CalibrationSet(settings: settings, tokenizer: tokenizer)
                guard set.windowsDigest == calibration.windowsSHA256 else {
                    throw JobError.invalidSetting(setting: "data", reason: "the prune's calibration windows cannot be rebuilt from \(source.path) with this model's tokenizer (windows sha256 \(set.windowsDigest.prefix(12))… instead of \(calibration.windowsSHA256.prefix(12))…), so training text cannot be kept apart from them; give another --data file")
                }
                let tc = settings.sequenceLength
                switch settings.sampling {
                case .stream:
                    ids = tokenizer.encode(documents.joined(separator: "\n\n"), addSpecial: true)
                    var slotOf = [[Int32]: Int]()
                    for k in 0..<(ids.count / tc) where slotOf[Array(ids[(k * tc)..<((k + 1) * tc)])] == nil {
                        slotOf[Array(ids[(k * tc)..<((k + 1) * tc)])] = k
                    }
                    for window in set.windows {
                        guard let k = slotOf[window] else {
                            throw JobError.invalidSetting(setting: "data", reason: "a calibration window of the prune is no slot of \(source.path)'s token stream; give another --data file")
                        }
                        slots.append(k * tc)
                    }
                    slots = Array(Set(slots)).sorted()
                    excludedTokens = slots.count * tc
                    exclusion = "the prune's \(settings.samples) stream-sampled calibration windows of \(tc) tokens (seed \(settings.seed)), rebuilt and cut out of the token stream"
                case .documents:
                    let tokenized = documents.map { tokenizer.encode($0, addSpecial: true) }
                    var dropped = Set<Int>()
                    for window in set.windows {
                        guard let d = tokenized.indices.first(where: { Self.contains(tokenized[$0], window) }) else {
                            throw JobError.invalidSetting(setting: "data", reason: "a calibration window of the prune lies in no document of \(source.path); give another --data file")
                        }
                        dropped.insert(d)
                    }
                    documentsExcluded = dropped.count
                    excludedTokens = dropped.reduce(0) { $0 + tokenized[$1].count }
                    documents = documents.indices.filter { !dropped.contains($0) }.map { documents[$0] }
                    ids = tokenizer.encode(documents.joined(separator: "\n\n"), addSpecial: true)
                    exclusion = "the \(dropped.count) documents holding the prune's \(settings.samples) document-sampled calibration windows of \(tc) tokens (seed \(settings.seed)), dropped whole"
                }
            }
        } else {
            ids = tokenizer.encode(documents.joined(separator: "\n\n"), addSpecial: true)
        }

        // Windows of T in the stretches between excluded slots.
        var offsets = [Int]()
        var start = 0
        let cuts = slots.map { ($0, $0 + (calibration?.settings.sequenceLength ?? 0)) } + [(ids.count, ids.count)]
        for (cutStart, cutEnd) in cuts {
            var s = start
            while s + t <= cutStart { offsets.append(s); s += t }
            start = max(start, cutEnd)
        }
        var generator = SeededGenerator(seed: seed ^ 0x5EED_C0DE_F17E_7E57)
        for i in stride(from: offsets.count - 1, to: 0, by: -1) { offsets.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        guard offsets.count > heldOut else {
            throw JobError.invalidSetting(setting: "data", reason: "\(source.path) leaves \(offsets.count) windows of \(t) tokens after excluding calibration text (\(exclusion)), not more than the \(heldOut) held out; lower --seqlen or --held-out, or give a larger --data file")
        }
        let held = offsets.prefix(heldOut).sorted(), train = offsets.dropFirst(heldOut).sorted()
        self.heldOut = held.map { Array(ids[$0..<($0 + t)]) }
        self.training = train.map { Array(ids[$0..<($0 + t)]) }
        description = Description(
            source: source.name, path: source.path, sha256: digest, documents: documentCount, documentsExcluded: documentsExcluded,
            streamTokens: ids.count, exclusion: exclusion, excludedSlots: slots, excludedTokens: excludedTokens, sequenceLength: t,
            trainingWindows: train.count, trainingTokens: train.count * t, heldOutOffsets: held, heldOutTokens: held.count * t,
            unusedTokens: ids.count - offsets.count * t - slots.count * (calibration?.settings.sequenceLength ?? 0))
    }

    /// The order in which epoch `epoch` visits `count` training windows: a seeded shuffle.
    public static func order(epoch: Int, count: Int, seed: UInt64) -> [Int] {
        var order = Array(0..<count)
        var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, Int(generator.next() % UInt64(i + 1))) }
        return order
    }

    /// Whether `haystack` holds `needle` as a contiguous run.
    static func contains(_ haystack: [Int32], _ needle: [Int32]) -> Bool {
        guard needle.count <= haystack.count, let first = needle.first else { return needle.isEmpty }
        for s in 0...(haystack.count - needle.count) where haystack[s] == first {
            if haystack[s..<(s + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }
}
