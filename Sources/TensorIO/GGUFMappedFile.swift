import CMappedFileGuard
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory (`mmap`, `PROT_READ`, `MAP_PRIVATE`); pages are read
/// from disk on first touch, so opening a multi-gigabyte model costs no RAM up front.
///
/// Immutable after creation, hence safe to share across threads. The descriptor stays open so
/// readers can check that no other process truncated the file (``currentSizeIfShrunk()``):
/// reading pages past a new end would raise SIGBUS. A truncation during a read that the check
/// cannot see is caught by the SIGBUS guard (`CMappedFileGuard`): the process exits with status 74
/// and a message naming the file instead of crashing.
final class GGUFMappedFile: @unchecked Sendable {
    /// The mapped bytes (`count` is the file size).
    let bytes: UnsafeRawBufferPointer
    let path: String
    private let descriptor: Int32

    init(url: URL) throws {
        path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw GGUFError(.io, file: path, actual: String(cString: strerror(errno)),
                            hint: "check that the file exists and is readable")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw GGUFError(.io, file: path, actual: String(cString: strerror(errno)), hint: "check the file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            close(fd)
            throw GGUFError(.truncated, file: path, offset: 0, expected: "at least 24 header bytes",
                            actual: "an empty file", hint: "the download or copy was interrupted; fetch the model again")
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            close(fd)
            throw GGUFError(.io, file: path, actual: "mmap failed: \(String(cString: strerror(errno)))",
                            hint: "check that the path is a regular file")
        }
        descriptor = fd
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        dlp_mapped_file_register(base, size, path)
    }

    deinit {
        if let base = bytes.baseAddress {
            dlp_mapped_file_unregister(base)
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
        close(descriptor)
    }

    /// The file's size now if it is smaller than when it was mapped, else nil.
    func currentSizeIfShrunk() -> Int? {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        return Int(info.st_size) < bytes.count ? Int(info.st_size) : nil
    }
}
