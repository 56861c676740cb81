import Foundation

/// How rotary frequencies are rescaled for longer contexts (`rope_scaling` in a Hugging Face
/// `config.json`, `rope.scaling.*` in GGUF metadata).
public enum RotaryScaling: Sendable, Equatable, Codable {
    /// Plain RoPE: `ωᵢ = θ^(−2i/d)`.
    case none
    /// Position interpolation (`rope_type: "linear"`): `ωᵢ / factor`, i.e. positions divided by
    /// `factor`.
    case linear(factor: Double)
    /// Llama 3.1 frequency-dependent scaling (`rope_type: "llama3"`), same formula as
    /// transformers' `_compute_llama3_parameters`. With `L = originalMaxPositions`, wavelength
    /// `λᵢ = 2π/ωᵢ`:
    /// - `λᵢ < L / highFrequencyFactor` (high frequencies): unchanged;
    /// - `λᵢ > L / lowFrequencyFactor` (low frequencies): `ωᵢ / factor`;
    /// - otherwise, with `s = (L/λᵢ − lowFrequencyFactor) / (highFrequencyFactor − lowFrequencyFactor)`:
    ///   `(1 − s)·ωᵢ/factor + s·ωᵢ`.
    case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double,
                originalMaxPositions: Int)
    /// Per-frequency divisors stored with the model (GGUF `rope_freqs.weight`, `[d/2]`, written
    /// by llama.cpp's converter for LLaMA 3): `ωᵢ / factorsᵢ`.
    case frequencyFactors([Double])

    /// Applies the scaling to the unscaled inverse frequencies `ω` (`[d/2]`).
    public func apply(to inverseFrequencies: [Double]) -> [Double] {
        switch self {
        case .none:
            return inverseFrequencies
        case .linear(let factor):
            return inverseFrequencies.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            let lowFrequencyWavelength = Double(original) / low
            let highFrequencyWavelength = Double(original) / high
            return inverseFrequencies.map { omega in
                let wavelength = 2 * Double.pi / omega
                if wavelength < highFrequencyWavelength { return omega }
                if wavelength > lowFrequencyWavelength { return omega / factor }
                let smooth = (Double(original) / wavelength - low) / (high - low)
                return (1 - smooth) * omega / factor + smooth * omega
            }
        case .frequencyFactors(let factors):
            return zip(inverseFrequencies, factors).map { $0 / $1 }
        }
    }

    /// Checks the parameters; throws naming the bad one.
    func validate() throws(RotaryEmbedding.ConfigurationError) {
        switch self {
        case .none:
            return
        case .linear(let factor):
            guard factor > 0, factor.isFinite else { throw .invalid("linear scaling factor", "\(factor)", "a positive number") }
        case .llama3(let factor, let low, let high, let original):
            guard factor > 0, factor.isFinite else { throw .invalid("llama3 factor", "\(factor)", "a positive number") }
            guard low > 0, high > low else {
                throw .invalid("llama3 low/high frequency factors", "\(low)/\(high)", "0 < low_freq_factor < high_freq_factor")
            }
            guard original > 0 else {
                throw .invalid("llama3 original_max_position_embeddings", "\(original)", "a positive integer")
            }
        case .frequencyFactors(let factors):
            guard factors.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw .invalid("rope frequency factors", "\(factors.prefix(4))…", "positive finite numbers")
            }
        }
    }
}
