/// Sees the input of the linear layers of a block while it runs: pruning attaches observers
/// that accumulate statistics (input norms, Hessians) without the model knowing about them.
///
/// The block calls `observe` four times per forward: once for q/k/v (which share their input,
/// the normed hidden state), once for o (the attention context), once for gate/up (the normed
/// residual) and once for down (the SwiGLU activation).
public protocol LinearInputObserver: AnyObject {
    /// - Parameters:
    ///   - input: `[tokens, inputSize]`, row-major; valid only during the call.
    ///   - roles: the linear layers that consume this input.
    func observe(_ input: UnsafePointer<Float>, tokens: Int, inputSize: Int, roles: [TensorRole])
}
