import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output file written under a temporary name in the destination's directory and renamed
/// over the destination by `commit()`, so readers see either the old file or the complete new
/// one, never a partial write. Abandoning it (`discard()`, or an error before `commit`) removes
/// the temporary file.
final class SafetensorsAtomicFile {
    let destination: URL
    private let temporaryPath: String
    private var descriptor: Int32

    init(destination: URL) throws(SafetensorsError) {
        self.destination = destination
        let directory = destination.deletingLastPathComponent()
        temporaryPath = directory.appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp").path
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw .writeFailed(file: destination.path, reason: "cannot create \(temporaryPath): \(Self.errnoText())")
        }
    }

    deinit { discard() }

    /// Appends `bytes`, retrying short writes.
    func write(_ bytes: UnsafeRawBufferPointer) throws(SafetensorsError) {
        guard var pointer = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = systemWrite(descriptor, pointer, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(file: destination.path, reason: Self.errnoText())
            }
            pointer += written
            remaining -= written
        }
    }

    /// Appends `bytes`.
    func write(_ bytes: [UInt8]) throws(SafetensorsError) {
        let result: Result<Void, SafetensorsError> = bytes.withUnsafeBytes { buffer in
            Result { () throws(SafetensorsError) in try write(buffer) }
        }
        try result.get()
    }

    /// Flushes to disk and renames the temporary file over the destination.
    func commit() throws(SafetensorsError) {
        guard descriptor >= 0 else { throw .writeFailed(file: destination.path, reason: "file already closed") }
        if fsync(descriptor) != 0 {
            throw .writeFailed(file: destination.path, reason: "fsync: \(Self.errnoText())")
        }
        let closed = close(descriptor)
        descriptor = -1
        guard closed == 0 else {
            unlink(temporaryPath)
            throw .writeFailed(file: destination.path, reason: "close: \(Self.errnoText())")
        }
        guard rename(temporaryPath, destination.path) == 0 else {
            let reason = Self.errnoText()
            unlink(temporaryPath)
            throw .writeFailed(file: destination.path, reason: "rename: \(reason)")
        }
    }

    /// Closes and removes the temporary file if not yet committed.
    func discard() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }
}

/// `write(2)`, named apart from the method above.
private func systemWrite(_ descriptor: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(descriptor, pointer, count)
    #else
    return Darwin.write(descriptor, pointer, count)
    #endif
}
