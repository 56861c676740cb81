import Foundation

/// Runs a program to its end for a test: its exit status and what it wrote to stderr (stdout is
/// discarded). Status −1 when it could not be started.
@discardableResult
public func runCapturingStandardError(_ executable: String, _ arguments: [String]) -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardError = pipe
    process.standardOutput = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return (-1, "") }
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}
