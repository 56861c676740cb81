import TensorCore
import Transformer

/// One trainable tensor of a fine-tuning run.
public enum ParameterKind: Hashable, Sendable, Codable {
    /// LoRA `A` `[r, in]` of linear `role` in block `block`.
    case loraA(block: Int, role: TensorRole)
    /// LoRA `B` `[out, r]` of linear `role` in block `block`.
    case loraB(block: Int, role: TensorRole)
    /// The attention RMSNorm gain of a block. `[D]`
    case attentionNormGain(block: Int)
    /// The MLP RMSNorm gain of a block. `[D]`
    case feedForwardNormGain(block: Int)
    /// The final RMSNorm gain. `[D]`
    case finalNormGain
}

/// Where a trainable tensor lives in the flat value vector.
public struct ParameterEntry: Sendable, Codable, Equatable {
    public let kind: ParameterKind
    /// First index in ``TrainableParameters/values``.
    public let offset: Int
    /// Row-major shape (a gain is one row).
    public let rows: Int
    public let columns: Int
    /// Whether AdamW's weight decay applies (LoRA matrices yes; norm gains no, as transformers'
    /// Trainer excludes norm weights and biases from decay).
    public let decays: Bool

    /// The index range of the tensor.
    public var range: Range<Int> { offset..<(offset + rows * columns) }
}

/// Every trainable value of a run in one flat vector, with a table of where each tensor lives
/// (llm.c's parameter table): LoRA `A` and `B` of each targeted linear and, when
/// ``LoRAConfiguration/trainsNormGains``, the RMSNorm gains. Order: block by block, the two gains
/// (if trained) then `A`, `B` of each target in `TensorRole.linears` order; the final gain last.
///
/// Gradients have the same type and layout (``zeros()``), so the optimizer and clipping work on
/// flat vectors.
public struct TrainableParameters<Scalar: TrainingScalar>: Sendable, Equatable {
    /// The adapter settings the layout was built for.
    public let lora: LoRAConfiguration
    /// The tensors, in vector order.
    public let entries: [ParameterEntry]
    /// All values. `[Σ entries' sizes]`
    public var values: [Scalar]
    private let index: [ParameterKind: Int]

    /// The layout for `configuration` and `lora`, all values zero.
    public init(configuration c: ModelConfiguration, lora: LoRAConfiguration) {
        var entries = [ParameterEntry](), offset = 0
        func append(_ kind: ParameterKind, _ rows: Int, _ columns: Int, decays: Bool) {
            entries.append(ParameterEntry(kind: kind, offset: offset, rows: rows, columns: columns, decays: decays))
            offset += rows * columns
        }
        for block in 0..<c.layerCount {
            if lora.trainsNormGains {
                append(.attentionNormGain(block: block), 1, c.hiddenSize, decays: false)
                append(.feedForwardNormGain(block: block), 1, c.hiddenSize, decays: false)
            }
            for role in lora.targets {
                let shape = role.shape(c)
                append(.loraA(block: block, role: role), lora.rank, shape[1], decays: true)
                append(.loraB(block: block, role: role), shape[0], lora.rank, decays: true)
            }
        }
        if lora.trainsNormGains { append(.finalNormGain, 1, c.hiddenSize, decays: false) }
        self.lora = lora
        self.entries = entries
        values = [Scalar](repeating: 0, count: offset)
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.kind, $0) })
    }

    /// Starting values as peft initialises them: `A` Kaiming-uniform (`kaiming_uniform_(a = √5)`,
    /// bound `√(6 / ((1 + a²)·in)) = 1/√in`), drawn in table order from `seed`; `B` zero; gains
    /// copied from `model`.
    public init(initialFor model: TrainingModel<Scalar>, lora: LoRAConfiguration, seed: UInt64) {
        self.init(configuration: model.configuration, lora: lora)
        var generator = SeededGenerator(seed: seed)
        for entry in entries {
            switch entry.kind {
            case .loraA:
                let bound = 1 / Double(entry.columns).squareRoot()
                for i in entry.range { values[i] = Scalar(Double(generator.nextSignedUnit()) * bound) }
            case .loraB:
                continue
            case .attentionNormGain(let block):
                values.replaceSubrange(entry.range, with: model.blocks[block].attentionNorm)
            case .feedForwardNormGain(let block):
                values.replaceSubrange(entry.range, with: model.blocks[block].feedForwardNorm)
            case .finalNormGain:
                values.replaceSubrange(entry.range, with: model.finalNorm)
            }
        }
    }

    /// The same layout with every value zero (a gradient accumulator).
    public func zeros() -> TrainableParameters {
        var copy = self
        copy.values = [Scalar](repeating: 0, count: values.count)
        return copy
    }

    /// Whether the layout holds `kind`.
    public func contains(_ kind: ParameterKind) -> Bool { index[kind] != nil }

    /// The entry of `kind`; the layout must hold it.
    public func entry(_ kind: ParameterKind) -> ParameterEntry {
        guard let i = index[kind] else { preconditionFailure("no trainable \(kind) in this layout") }
        return entries[i]
    }

    /// A copy of tensor `kind`.
    public func matrix(_ kind: ParameterKind) -> TrainingMatrix<Scalar> {
        let e = entry(kind)
        return TrainingMatrix(rows: e.rows, columns: e.columns, storage: Array(values[e.range]))
    }

    /// Gain `kind` as a vector, or nil when gains do not train.
    func gain(_ kind: ParameterKind) -> [Scalar]? {
        index[kind].map { Array(values[entries[$0].range]) }
    }

    /// `tensor(kind) += values` (same element count).
    public mutating func add(_ addend: [Scalar], to kind: ParameterKind) {
        let e = entry(kind)
        precondition(addend.count == e.range.count, "add: \(addend.count) values for \(kind) of \(e.range.count)")
        for (i, v) in zip(e.range, addend) { values[i] += v }
    }

    /// `self += other` (same layout).
    public mutating func add(_ other: TrainableParameters) {
        precondition(entries == other.entries, "add: the parameter layouts differ")
        for i in 0..<values.count { values[i] += other.values[i] }
    }

    /// The adapter of linear `role` in block `block`, or nil when it is not a target.
    public func adapter(block: Int, role: TensorRole) -> LoRALinear<Scalar>.Adapter? {
        guard contains(.loraA(block: block, role: role)) else { return nil }
        return .init(a: matrix(.loraA(block: block, role: role)), b: matrix(.loraB(block: block, role: role)),
                     scale: Scalar(lora.scale), masked: lora.masked)
    }

    /// Index ranges that AdamW decays (``ParameterEntry/decays``).
    public var decayedRanges: [Range<Int>] { entries.filter(\.decays).map(\.range) }
}
