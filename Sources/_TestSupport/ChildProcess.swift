import Foundation

/// Runs a program to its end for a test: its exit status and what it wrote to stderr (stdout is
/// discarded). Status −1 when it could not be started.
@discardableResult
public func runCapturingStandardError(_ executable: String, _ arguments: [String]) -> (status: Int32, stderr: String) {
    let (status, data) = run(executable, arguments, capturingStandardOutput: false)
    return (status, String(decoding: data, as: UTF8.self))
}

/// Runs a program to its end for a test: its exit status and what it wrote to stdout (stderr is
/// discarded). Status −1 when it could not be started.
public func runCapturingStandardOutput(_ executable: String, _ arguments: [String]) -> (status: Int32, stdout: Data) {
    run(executable, arguments, capturingStandardOutput: true)
}

/// Runs `executable` to its end, capturing one of its two output streams and discarding the other.
private func run(_ executable: String, _ arguments: [String], capturingStandardOutput: Bool) -> (Int32, Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = capturingStandardOutput ? pipe : FileHandle.nullDevice
    process.standardError = capturingStandardOutput ? FileHandle.nullDevice : pipe
    guard (try? process.run()) != nil else { return (-1, Data()) }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, data)
}
