/// Hidden states of `sequences` sequences of `tokens` tokens each, `[N·T, D]` contiguous, the
/// unit the block-by-block walk moves through the model (calibration and evaluation alike).
public final class ActivationBuffer: @unchecked Sendable {
    public let sequences: Int
    public let tokens: Int
    public let hiddenSize: Int
    /// `[N·T, D]` row-major.
    public let values: UnsafeMutablePointer<Float>

    public init(sequences: Int, tokens: Int, hiddenSize: Int) {
        precondition(sequences > 0 && tokens > 0 && hiddenSize > 0, "activation buffer dimensions must be positive")
        self.sequences = sequences
        self.tokens = tokens
        self.hiddenSize = hiddenSize
        values = .allocate(capacity: sequences * tokens * hiddenSize)
        values.initialize(repeating: 0, count: sequences * tokens * hiddenSize)
    }

    /// Bytes held.
    public var byteCount: Int { sequences * tokens * hiddenSize * MemoryLayout<Float>.size }

    /// Start of sequence `index`, `[T, D]`.
    public func sequence(_ index: Int) -> UnsafeMutablePointer<Float> {
        precondition(index >= 0 && index < sequences, "sequence \(index) out of range")
        return values + index * tokens * hiddenSize
    }

    deinit { values.deallocate() }
}

extension LanguageModel {
    /// Embeds `windows` (each of `buffer.tokens` ids) into `buffer`.
    public func embed(_ windows: [[Int32]], into buffer: ActivationBuffer) throws {
        precondition(windows.count == buffer.sequences, "one window per buffer sequence")
        for (i, window) in windows.enumerated() {
            precondition(window.count == buffer.tokens, "window \(i) has \(window.count) tokens, expected \(buffer.tokens)")
            try embed(window, into: buffer.sequence(i))
        }
    }

    /// Runs every block over every sequence of `buffer`, in place, decoding each block once.
    /// `progress(block)` is called after each block.
    public func runBlocks(_ buffer: ActivationBuffer, workspace: BlockWorkspace,
                          progress: (Int) -> Void = { _ in }) throws {
        for index in 0..<configuration.layerCount {
            let layer = try self.layer(index)
            for s in 0..<buffer.sequences {
                layer.forward(buffer.sequence(s), tokens: buffer.tokens, workspace: workspace)
            }
            progress(index)
        }
    }
}
