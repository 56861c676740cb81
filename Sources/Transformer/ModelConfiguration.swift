import Kernels

/// Hyperparameters of a decoder, independent of the file format it came from.
///
/// Shapes that follow (with `D = hiddenSize`, `F = intermediateSize`, `H = headCount`,
/// `K = keyValueHeadCount`, `d = headDimension`, `V = vocabularySize`):
/// q `[H·d, D]`, k and v `[K·d, D]`, o `[D, H·d]`, gate and up `[F, D]`, down `[D, F]`,
/// embeddings and LM head `[V, D]`.
public struct ModelConfiguration: Sendable, Codable, Equatable {
    public var architecture: Architecture
    public var layerCount: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var headDimension: Int
    public var vocabularySize: Int
    public var rmsNormEpsilon: Float
    public var ropeTheta: Float
    public var ropeScaling: RotaryScaling
    /// Longest context the model was trained for (informational; windows are not limited by it).
    public var contextLength: Int
    /// The LM head reuses the token embedding matrix.
    public var tiedEmbeddings: Bool

    public init(architecture: Architecture, layerCount: Int, hiddenSize: Int, intermediateSize: Int,
                headCount: Int, keyValueHeadCount: Int, headDimension: Int, vocabularySize: Int,
                rmsNormEpsilon: Float, ropeTheta: Float, ropeScaling: RotaryScaling = .none,
                contextLength: Int, tiedEmbeddings: Bool) {
        self.architecture = architecture
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.headDimension = headDimension
        self.vocabularySize = vocabularySize
        self.rmsNormEpsilon = rmsNormEpsilon
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.contextLength = contextLength
        self.tiedEmbeddings = tiedEmbeddings
    }

    /// Checks the relations between the sizes; `origin` names the file in errors.
    public func validate(origin: String) throws {
        func positive(_ key: String, _ value: Int) throws {
            if value <= 0 { throw ModelError.invalidValue(key: key, value: "\(value)", origin: origin, reason: "must be positive") }
        }
        try positive("layerCount", layerCount)
        try positive("hiddenSize", hiddenSize)
        try positive("intermediateSize", intermediateSize)
        try positive("headCount", headCount)
        try positive("keyValueHeadCount", keyValueHeadCount)
        try positive("headDimension", headDimension)
        try positive("vocabularySize", vocabularySize)
        if headCount % keyValueHeadCount != 0 {
            throw ModelError.invalidValue(key: "keyValueHeadCount", value: "\(keyValueHeadCount)", origin: origin,
                                          reason: "must divide headCount \(headCount) (grouped-query attention)")
        }
        if headDimension % 2 != 0 {
            throw ModelError.invalidValue(key: "headDimension", value: "\(headDimension)", origin: origin,
                                          reason: "rotary embeddings need an even head dimension")
        }
        if !(rmsNormEpsilon > 0) || !(ropeTheta > 0) {
            throw ModelError.invalidValue(key: "rmsNormEpsilon/ropeTheta", value: "\(rmsNormEpsilon)/\(ropeTheta)",
                                          origin: origin, reason: "must be positive")
        }
    }

    /// Parameters of the seven linear layers of one block (the weights pruning acts on).
    public var linearParametersPerBlock: Int {
        let attention = 2 * headCount * headDimension * hiddenSize + 2 * keyValueHeadCount * headDimension * hiddenSize
        return attention + 3 * intermediateSize * hiddenSize
    }

    /// All parameters of one block: linears, biases and the two norms.
    public var parametersPerBlock: Int {
        let bias = architecture.hasAttentionBias ? (headCount + 2 * keyValueHeadCount) * headDimension : 0
        return linearParametersPerBlock + bias + 2 * hiddenSize
    }

    /// All parameters of the model, counting a tied embedding once.
    public var parameterCount: Int {
        let embedding = vocabularySize * hiddenSize
        return embedding * (tiedEmbeddings ? 1 : 2) + hiddenSize + layerCount * parametersPerBlock
    }
}
