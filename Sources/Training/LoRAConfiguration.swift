import Transformer

/// The settings of low-rank adaptation (Hu et al. 2021, LoRA) as peft's `LoraConfig` names them:
/// each targeted linear `W` `[out, in]` gains `A` `[r, in]` and `B` `[out, r]`, and computes
///
///     y = x·Wᵀ (+ b) + (α/r) · dropout(x)·Aᵀ·Bᵀ          (unmasked)
///     y = x·Wᵀ (+ b) + dropout(x) · ((α/r)·(B·A) ⊙ M)ᵀ    (masked, M = [W ≠ 0])
///
/// Masked LoRA (SQFT, LoSA, PERP's MaskLoRA) keeps every zero of a pruned weight through merging.
/// Defaults are the recipe of Wanda / OWL / DLP's fine-tuning: r = 8, α = 16, dropout 0.05 on q and v.
public struct LoRAConfiguration: Sendable, Codable, Equatable {
    /// Rank `r` of the update.
    public var rank: Int
    /// Scale numerator `α` (peft's `lora_alpha`); the update is scaled by `α/r`.
    public var alpha: Double
    /// Dropout probability on the adapter's input (training only).
    public var dropout: Double
    /// Linears that get an adapter, a subset of `TensorRole.linears`, kept in that order.
    public var targets: [TensorRole]
    /// Whether the update is masked by the base weight's non-zeros.
    public var masked: Bool
    /// Whether the RMSNorm gains (both per block and the final one) train too.
    public var trainsNormGains: Bool

    public init(rank: Int = 8, alpha: Double = 16, dropout: Double = 0.05, targets: [TensorRole] = [.query, .value],
                masked: Bool = true, trainsNormGains: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = TensorRole.linears.filter(targets.contains) + targets.filter { !TensorRole.linears.contains($0) }
        self.masked = masked
        self.trainsNormGains = trainsNormGains
    }

    /// Short names of the linears (`--targets`, plan files, folder names), in `TensorRole.linears` order.
    public static let targetNames: [(name: String, role: TensorRole)] = [
        ("q", .query), ("k", .key), ("v", .value), ("o", .attentionOutput), ("gate", .gate), ("up", .up), ("down", .down),
    ]

    /// Parses `all` or a comma-separated list of q, k, v, o, gate, up, down (or their Hugging Face
    /// names q_proj, ...); repeats are dropped.
    public static func parseTargets(_ text: String) throws -> [TensorRole] {
        if text.trimmingCharacters(in: .whitespaces).lowercased() == "all" { return TensorRole.linears }
        var roles = [TensorRole]()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters(in: .whitespaces).lowercased()
            guard let role = targetNames.first(where: { $0.name == name })?.role
                ?? TensorRole.linears.first(where: { PEFTAdapter.moduleName($0) == name }) else {
                throw TrainingError.invalidSetting(name: "LoRA target", value: String(part),
                                                   valid: "q, k, v, o, gate, up, down (or q_proj, ...), or all")
            }
            if !roles.contains(role) { roles.append(role) }
        }
        return roles
    }

    /// `qv` for q and v, `all` for the seven linears, else the short names joined by `+` (`q+k+v`).
    public static func targetsTag(_ targets: [TensorRole]) -> String {
        if Set(targets) == Set(TensorRole.linears) { return "all" }
        let names = shortNames(of: targets)
        return names.allSatisfy { $0.count == 1 } ? names.joined() : names.joined(separator: "+")
    }

    /// The linears a ``targetsTag(_:)`` names, in `TensorRole.linears` order; nil for a string that
    /// tag never is (an unknown or repeated name, the wrong joiner, names out of order).
    public static func targets(fromTag tag: String) -> [TensorRole]? {
        if tag == "all" { return TensorRole.linears }
        // Joined by `+` (a single name has no joiner), or one letter per name.
        let readings = [tag.split(separator: "+", omittingEmptySubsequences: false).map(String.init), tag.map(String.init)]
        for names in readings {
            // Every name known, and the tag they make is this one (so no repeats, in order).
            let roles = names.compactMap { name in targetNames.first(where: { $0.name == name })?.role }
            if roles.count == names.count, !roles.isEmpty, targetsTag(roles) == tag { return roles }
        }
        return nil
    }

    /// The short names of `targets` (``targetNames``), in `TensorRole.linears` order.
    public static func shortNames(of targets: [TensorRole]) -> [String] {
        targetNames.filter { targets.contains($0.role) }.map(\.name)
    }

    /// The update's scale `α / r`.
    public var scale: Double { alpha / Double(rank) }

    /// Throws for a rank below 1, a non-finite α, a dropout outside `[0, 1)` or a target that is not a linear.
    public func validate() throws {
        guard rank >= 1 else { throw TrainingError.invalidSetting(name: "LoRA rank", value: "\(rank)", valid: "an integer ≥ 1") }
        guard alpha.isFinite, alpha > 0 else {
            throw TrainingError.invalidSetting(name: "LoRA alpha", value: "\(alpha)", valid: "a positive number")
        }
        guard dropout >= 0, dropout < 1 else {
            throw TrainingError.invalidSetting(name: "LoRA dropout", value: "\(dropout)", valid: "a probability in [0, 1)")
        }
        if let bad = targets.first(where: { !TensorRole.linears.contains($0) }) {
            throw TrainingError.invalidSetting(name: "LoRA target", value: bad.rawValue,
                                               valid: TensorRole.linears.map(\.rawValue).joined(separator: ", "))
        }
    }
}
