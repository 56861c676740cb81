import CMappedFileGuard
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory; unmapped when the last reference goes.
///
/// Pages are loaded by the kernel on first touch, so opening a multi-gigabyte checkpoint costs
/// nothing until tensors are decoded. The mapping is immutable, hence `@unchecked Sendable`.
/// Truncating the file while it is mapped would make later reads fault (SIGBUS): the descriptor
/// stays open so readers can check the size (``currentSizeIfShrunk()``) before touching bytes. A
/// truncation during a read that the check cannot see is caught by the SIGBUS guard
/// (`CMappedFileGuard`): the process exits with status 74 and a message naming the file.
final class SafetensorsMappedFile: @unchecked Sendable {
    /// Start of the mapping; nil for an empty file (which cannot be mapped).
    let base: UnsafeRawPointer?
    /// File size in bytes when mapped.
    let count: Int
    private let descriptor: Int32

    init(path: String) throws(SafetensorsError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .cannotOpen(file: path, reason: Self.errnoText()) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw .cannotOpen(file: path, reason: Self.errnoText())
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(descriptor)
            throw .cannotOpen(file: path, reason: "not a regular file")
        }
        self.descriptor = descriptor
        count = Int(status.st_size)
        guard count > 0 else { base = nil; return }
        let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            close(descriptor)
            throw .cannotOpen(file: path, reason: "mmap: \(Self.errnoText())")
        }
        base = UnsafeRawPointer(address)
        dlp_mapped_file_register(address, count, path)
    }

    deinit {
        if let base {
            dlp_mapped_file_unregister(base)
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        }
        close(descriptor)
    }

    /// The file's size now if it is smaller than when it was mapped (another process truncated
    /// it: reading the lost pages would raise SIGBUS), else nil.
    func currentSizeIfShrunk() -> Int? {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        return Int(status.st_size) < count ? Int(status.st_size) : nil
    }

    /// Bytes `range` of the file; the caller has checked `range` lies within `0..<count`.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        guard let base, !range.isEmpty else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}
