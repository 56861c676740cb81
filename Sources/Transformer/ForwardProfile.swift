import Kernels

/// Wall time per part of the block forward pass (``BlockWorkspace/profile``).
public typealias ForwardProfile = PartProfile<ForwardPart>

/// The parts of a block, in execution order.
public enum ForwardPart: String, CaseIterable, Sendable {
    case norm, qkvProjection = "q/k/v projection", rope, attentionScores = "attention QKᵀ+softmax+AV",
         outputProjection = "o projection", gateUp = "gate/up projection", swiGLU, downProjection = "down projection",
         observers
}
