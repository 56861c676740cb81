// A child process for TruncatedWhileReadingTests: `dlp-truncation-probe MODE FILE`.
//
// - `gguf FILE`, `safetensors FILE`: opens FILE with the reader, takes the raw bytes of its last
//   tensor (the size check passes), truncates FILE to 0 bytes and then reads those bytes, as if
//   another process truncated the file in the middle of a read. The SIGBUS guard must end the
//   process with status 74 and a message naming FILE.
// - `foreign FILE`: opens FILE as safetensors (installing the guard), then maps a copy of it
//   outside the readers, truncates the copy and reads it: a SIGBUS the guard does not own, which
//   must keep its default action (killed by SIGBUS).
//
// Reaching the end prints "read completed" and exits 0, which the tests treat as a failure.
import Foundation
import TensorIO
#if canImport(Glibc)
import Glibc
#endif

func truncateToZero(_ path: String) {
    guard truncate(path, 0) == 0 else {
        FileHandle.standardError.write(Data("probe: truncate \(path): \(String(cString: strerror(errno)))\n".utf8))
        exit(2)
    }
}

/// Reads every byte (the sum, printed at the end, keeps the loads from being optimised away).
func touch(_ bytes: UnsafeRawBufferPointer) -> Int {
    var sum = 0
    for byte in bytes { sum &+= Int(byte) }
    return sum
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: dlp-truncation-probe gguf|safetensors|foreign FILE\n".utf8))
    exit(64)
}
let path = arguments[2]
let url = URL(fileURLWithPath: path)
var sum = 0
do {
    switch arguments[1] {
    case "gguf":
        let file = try GGUFFile(url: url)
        guard let last = file.tensors.last else { exit(2) }
        sum = try file.withRawBytes(last.name) { bytes in
            truncateToZero(path)
            return touch(bytes)
        }
    case "safetensors":
        let file = try SafetensorsFile(url: url)
        guard let last = file.entries.last else { exit(2) }
        sum = try file.withRawBytes(of: last.name) { bytes in
            truncateToZero(path)
            return touch(bytes)
        }
    case "foreign":
        let file = try SafetensorsFile(url: url)
        let copy = path + ".foreign"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        let fd = open(copy, O_RDONLY)
        guard fd >= 0, let base = mmap(nil, file.fileSize, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { exit(2) }
        truncateToZero(copy)
        sum = withExtendedLifetime(file) { touch(UnsafeRawBufferPointer(start: base, count: file.fileSize)) }
    default:
        exit(64)
    }
} catch {
    FileHandle.standardError.write(Data("probe: \(error)\n".utf8))
    exit(3)
}
print("read completed (sum \(sum))")
