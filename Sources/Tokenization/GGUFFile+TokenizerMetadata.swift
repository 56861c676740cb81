import TensorIO

extension GGUFFile: TokenizerMetadataSource {
    /// The file path, for error messages.
    public var sourceDescription: String { url.path }
}
